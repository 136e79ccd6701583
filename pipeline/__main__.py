from pipeline.terminal.entry import main

main()
