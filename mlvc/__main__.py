from mlvc.cli.app import main

main()
