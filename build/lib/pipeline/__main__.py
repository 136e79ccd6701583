from pipeline.terminal.cli import main

main()
