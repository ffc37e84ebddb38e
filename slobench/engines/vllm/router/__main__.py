from slobench.engines.vllm.router.app import main

main()
