import sys

from phantomqc.cli import main

sys.exit(main())
