from mlvc.cli.fast import main

main()
