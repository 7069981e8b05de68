"""The command line: a typer app, one module per command or command group."""
