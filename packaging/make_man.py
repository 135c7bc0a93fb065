#!/usr/bin/python3
"""Writes the zarrmount(1) manual page from what `zarrmount --help` and each
command's --help print (so from the option table, as --help is) and from the
README's sections on running zarrmount as a service and on its semantics.

Usage: packaging/make_man.py ZARRMOUNT README.md DATE OUT.1
"""

import re
import subprocess
import sys

from zarrmount_help import commands, help_text



def escape(text):
    """Plain text for roff: backslashes, and dots or quotes that would start a
    request at the beginning of a line."""
    text = text.replace("\\", "\\e")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def option_name(text):
    return escape(text).replace("-", "\\-")


def inline_markdown(text):
    """`code`, **bold**, *italic* and [links](url) of one paragraph."""
    out = []
    for part in re.split(r"(`[^`]*`)", text):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append("\\fB" + option_name(part[1:-1]) + "\\fR")
            continue
        part = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", part)
        part = escape(part)
        part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
        part = re.sub(r"\*([^*]+)\*", r"\\fI\1\\fR", part)
        out.append(part)
    return "".join(out)


def markdown_block(lines):
    """A README section: paragraphs, '- ' bullets and code indented by four
    spaces or fenced; tables are left out (they are for the repository)."""
    out, para, code = [], [], None

    def flush():
        if para:
            out.append(inline_markdown(" ".join(para)))
            para.clear()

    for line in lines:
        if code is not None:
            if line.startswith("```"):
                out += [".nf", *[escape(c) for c in code], ".fi"]
                code = None
            else:
                code.append(line)
            continue
        if line.startswith("```"):
            flush()
            code = []
        elif line.startswith("|"):
            flush()
        elif line.startswith("    ") and not para:
            out += [".nf", escape(line[4:]), ".fi"]
        elif not line.strip():
            flush()
            out.append(".PP")
        elif line.startswith("- "):
            flush()
            out.append(".IP \\(bu 2")
            para.append(line[2:].strip())
        else:
            para.append(line.strip())
    flush()
    # Consecutive code lines form one block.
    text = "\n".join(out)
    text = text.replace(".fi\n.nf\n", "")
    return re.sub(r"(\.PP\n)+", ".PP\n", text).strip("\n")


def readme_section(readme, heading, stop):
    lines = readme.splitlines()
    start = lines.index(heading) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(stop))
    return lines[start:end]


def options_section(option_lines):
    """--help's option list as .TP entries: the spelling, then the text."""
    out = []
    for line in option_lines:
        indent = len(line) - len(line.lstrip())
        if line.strip() and indent <= 6 and line.lstrip().startswith("-"):
            spelling, _, text = line.strip().partition("  ")
            words = spelling.split(" ")
            head = "\\fB" + option_name(words[0]) + "\\fR"
            if len(words) > 1:
                rest = " ".join(words[1:])
                # "-f, --foreground": both spellings bold; "--x VALUE": value italic.
                if rest.startswith("--"):
                    head = "\\fB" + option_name(spelling) + "\\fR"
                else:
                    head += " \\fI" + escape(rest) + "\\fR"
            out += [".TP", head, escape(text.strip())]
        elif line.strip():
            out.append(escape(line.strip()))
    return "\n".join(out)


def main():
    binary, readme_path, date, out_path = sys.argv[1:5]
    version = subprocess.run([binary, "--version"], check=True, capture_output=True,
                             text=True).stdout.split("\n")[0].split()[1]
    main_help = help_text(binary)
    usage, rest = main_help.split("\n\n", 1)
    description, rest = rest.split("\nOptions:\n", 1)
    option_list, tail = rest.split("\n\n", 1)
    readme = open(readme_path, encoding="utf-8").read()
    admin = readme_section(readme, "### mount(8), fstab and systemd", "#")
    semantics = readme_section(readme, "## Semantics", "Each claim has tests")

    page = [
        f'.TH ZARRMOUNT 1 "{date}" "zarrmount {version}" "User Commands"',
        ".SH NAME",
        "zarrmount \\- mount kerchunk reference sets and Zarr stores as read\\-only file systems",
        ".SH SYNOPSIS",
        ".nf",
        escape(usage.replace("Usage: ", "       ", 1).replace("\n       ", "\n")).strip(),
        ".fi",
        ".SH DESCRIPTION",
        escape(description.strip()),
        ".SH OPTIONS",
        options_section(option_list.splitlines()),
        ".PP",
        escape(tail.strip()),
        ".SH COMMANDS",
    ]
    for command in commands(binary):
        page += [f".SS zarrmount {command}", ".nf", escape(help_text(binary, command).strip()),
                 ".fi"]
    page += [
        ".SH MOUNT(8), FSTAB AND SYSTEMD",
        markdown_block(admin),
        ".SH SEMANTICS",
        markdown_block(semantics),
        ".SH FILES",
        ".TP",
        "\\fI/lib/systemd/system/zarrmount@.service\\fR",
        "the service template; an instance reads \\fI/etc/zarrmount/INSTANCE.conf\\fR",
        ".TP",
        "\\fI/sbin/mount.fuse.zarrmount\\fR",
        "mount(8)'s helper for the type fuse.zarrmount (a link to zarrmount)",
        ".TP",
        "\\fI/usr/share/doc/zarrmount/examples/\\fR",
        "an fstab line, a .mount and .automount pair and a service configuration",
        ".SH SEE ALSO",
        "\\fBmount\\fR(8), \\fBfstab\\fR(5), \\fBfusermount3\\fR(1), \\fBmount.fuse3\\fR(8),",
        "\\fBsystemd.mount\\fR(5), \\fBsystemd.automount\\fR(5), \\fBsystemd.service\\fR(5)",
    ]
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
