import sys

from hotdog.cli import main

sys.exit(main())
