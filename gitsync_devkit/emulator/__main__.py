import sys

from gitsync_devkit.emulator.workspace_emulator import main

sys.exit(main())
