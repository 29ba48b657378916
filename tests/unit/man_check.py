#!/usr/bin/env python3
"""The man pages and the example config file against the programs' --help.

  man_check.py feedcached FEEDCACHED MAN_PAGE CONF_FILE
  man_check.py feedcachectl FEEDCACHECTL MAN_PAGE

feedcached: every flag `feedcached --help` lists is documented in
feedcached(8), with the same default in brackets, and the man page names no
flag --help does not know; the example config file has a `key = default`
line (commented out) for every setting, and no other key.

feedcachectl: the commands of `feedcachectl --help` are the commands of
feedcachectl(1)'s COMMANDS section, and every option of the global --help
and of each `feedcachectl COMMAND --help` is in the man page, and the other
way round.

Both man pages are written by hand: this keeps them from drifting. A
failure names what is missing where. Exit 0 when all agree, 1 otherwise.
"""
import re
import subprocess
import sys

FLAG = re.compile(r"--[a-z0-9][a-z0-9-]*")


def run(*argv):
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return out.stdout


def man_text(path):
    """The page's text with roff escapes for '-' and fonts removed."""
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().splitlines() if not l.startswith('.\\"')]
    text = "\n".join(lines)
    text = text.replace("\\-", "-").replace("\\e", "\\")
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\c", "").replace("\\&", "")
    return text


def roff_words(line):
    """The words of a roff line: a macro's quoted arguments are one word."""
    if line.startswith("."):
        line = line.split(None, 1)[1] if " " in line else ""
    return [w.strip('"') for w in re.findall(r'"[^"]*"|\S+', line)]


def report(problems):
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print("ok")
    return 1 if problems else 0


def help_settings(helptext):
    """{flag: default} of the settings section, and every flag of --help."""
    settings = {}
    in_settings = False
    for line in helptext.splitlines():
        if line.startswith("Settings"):
            in_settings = True
            continue
        if in_settings and not line.strip():
            in_settings = False
        m = re.match(r"\s+(--[a-z0-9-]+)\s+.*\[([^\]]*)\]\s*$", line)
        if in_settings and m:
            settings[m.group(1)] = m.group(2)
    flags = {m.group(1) for m in re.finditer(r"^\s+(--[a-z0-9-]+)", helptext, re.M)}
    return settings, flags


def man_entries(text):
    """(tag, body) of every .TP entry: the line after .TP, and what follows."""
    entries = []
    parts = re.split(r"^\.TP\n", text, flags=re.M)
    for part in parts[1:]:
        tag, _, body = part.partition("\n")
        body = re.split(r"^\.(?:SH|SS|RS|RE)\b", body, flags=re.M)[0]
        entries.append((tag, body))
    return entries


def check_feedcached(binary, man, conf):
    problems = []
    helptext = run(binary, "--help")
    settings, help_flags = help_settings(helptext)
    if len(settings) < 30:
        problems.append(f"--help: only {len(settings)} settings parsed; did its format change?")
    text = man_text(man)
    man_flags = set(FLAG.findall(text))
    for f in sorted(help_flags - man_flags):
        problems.append(f"{man}: {f} is in `feedcached --help` but not in the man page")
    for f in sorted(man_flags - help_flags):
        problems.append(f"{man}: names {f}, which `feedcached --help` does not list")

    # The default in brackets at the end of each setting's entry.
    for tag, body in man_entries(text):
        words = roff_words(tag)
        flag = words[0] if words and words[0] in settings else None
        if not flag:
            continue
        m = re.findall(r"^\[([^\]\n]*)\]\s*$", body, re.M)
        if not m:
            problems.append(f"{man}: {flag} has no [default] line")
        elif m[-1] != settings[flag]:
            problems.append(f"{man}: {flag} default [{m[-1]}], --help says [{settings[flag]}]")

    # The example config file: `# key = default` for every setting.
    keys = {f[2:].replace("-", "_"): d for f, d in settings.items()}
    seen = {}
    with open(conf, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^#?\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$", line)
            if not m:
                continue
            key, value = m.group(1), m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if key not in keys:
                problems.append(f"{conf}:{n}: '{key}' is not a setting of feedcached --help")
                continue
            seen[key] = value
            if not line.startswith("#"):
                problems.append(f"{conf}:{n}: '{key}' is set; the example keeps every default "
                                "commented out")
            elif value != keys[key]:
                problems.append(f"{conf}:{n}: {key} = {value}, but its default is '{keys[key]}'")
    for key in sorted(set(keys) - set(seen)):
        problems.append(f"{conf}: no line for setting '{key}' (want '# {key} = {keys[key]}')")
    return report(problems)


def ctl_commands(helptext):
    cmds, on = [], False
    for line in helptext.splitlines():
        if line.startswith("Commands:"):
            on = True
            continue
        if on and not line.strip():
            break
        m = re.match(r"\s{2}(\S+)\s{2,}", line)
        if on and m:
            cmds.append(m.group(1))
    return cmds


def man_commands(text):
    """First words of the .TP/.TQ tags of the COMMANDS section (not options)."""
    m = re.search(r"^\.SH COMMANDS\n(.*?)(?=^\.SH )", text, re.M | re.S)
    if not m:
        return None
    cmds = []
    for tm in re.finditer(r"^\.T[PQ]\n(.*)$", m.group(1), re.M):
        words = roff_words(tm.group(1))
        if words and not words[0].startswith("-"):
            cmds.append(words[0])
    return cmds


def check_feedcachectl(binary, man):
    problems = []
    main_help = run(binary, "--help")
    cmds = ctl_commands(main_help)
    if len(cmds) < 5:
        problems.append(f"--help: only {len(cmds)} commands parsed; did its format change?")
    text = man_text(man)
    mcmds = man_commands(text)
    if mcmds is None:
        return report(problems + [f"{man}: no COMMANDS section"])
    for c in cmds:
        if c not in mcmds:
            problems.append(f"{man}: command '{c}' of `feedcachectl --help` is not in COMMANDS")
    for c in sorted(set(mcmds) - set(cmds)):
        problems.append(f"{man}: COMMANDS has '{c}', which `feedcachectl --help` does not list")

    help_flags = set(FLAG.findall(main_help))
    per_cmd = {}
    for c in cmds:
        out = run(binary, c, "--help")
        per_cmd[c] = set(FLAG.findall(out))
        help_flags |= per_cmd[c]
    man_flags = set(FLAG.findall(text))
    for c, flags in per_cmd.items():
        for f in sorted(flags - man_flags):
            problems.append(f"{man}: {f} of `feedcachectl {c} --help` is not in the man page")
    for f in sorted(set(FLAG.findall(main_help)) - man_flags):
        problems.append(f"{man}: {f} of `feedcachectl --help` is not in the man page")
    for f in sorted(man_flags - help_flags):
        problems.append(f"{man}: names {f}, which no feedcachectl --help lists")
    return report(problems)


def main(argv):
    if len(argv) == 5 and argv[1] == "feedcached":
        return check_feedcached(argv[2], argv[3], argv[4])
    if len(argv) == 4 and argv[1] == "feedcachectl":
        return check_feedcachectl(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
