from modelspec.cli import main

main()
