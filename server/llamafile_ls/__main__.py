from llamafile_ls.cli import main

raise SystemExit(main())
