from slobench.router.app import main

main()
