from seccomp_operator.cli import main

raise SystemExit(main())
