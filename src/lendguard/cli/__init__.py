"""The thin command line (typer + rich) over the core. Bad input: one clear line, exit code 2."""
