from zoo_core.cli import main

main()
