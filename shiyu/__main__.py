import sys

from shiyu.cli import main

sys.exit(main())
