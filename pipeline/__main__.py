from pipeline.terminal import main

main()
