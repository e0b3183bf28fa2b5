"""``python -m libtrad``: the ``libtrad`` command line (:mod:`libtrad.cli`), for an environment whose scripts
folder is not on ``PATH``. The same commands, options, ``error:`` lines and exit statuses as the console script."""

from libtrad.cli import main

if __name__ == "__main__":
    main()
