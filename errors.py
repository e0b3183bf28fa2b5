"""The one exception type for user mistakes (bad paths, bad files, bad arguments).

The CLI turns it into a one-line message and a non-zero exit instead of a traceback.
"""


class LibtradError(ValueError):
    """A problem with the user's input; the message names the file/argument and what is wrong."""
