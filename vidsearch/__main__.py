from vidsearch.app.cli import main

main()
