"""What `zarrmount --help` says, for the generators of the manual page and
the bash completion: each is written from --help (and so from the option
table), never from a list of its own."""

import re
import subprocess


def help_text(binary, *args):
    """The --help text of zarrmount, or of one of its commands."""
    return subprocess.run([binary, *args, "--help"], check=True, capture_output=True,
                          text=True).stdout


def commands(binary):
    """The commands the usage lines of `zarrmount --help` name, in order
    ("zarrmount warm [OPTIONS] ..." names warm)."""
    return tuple(dict.fromkeys(re.findall(r"^\s+zarrmount ([a-z]+)\b", help_text(binary), re.M)))
