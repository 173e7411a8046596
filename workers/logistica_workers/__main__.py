import sys

from logistica_workers.cli import main

sys.exit(main())
