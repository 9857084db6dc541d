"""Runs each command of benches/versus_podlet.sh N times and prints the medians and issue 24's goals.

Each run is one process started with posix_spawn and reaped with wait4, whose rusage is that
process's own user and system CPU (its threads included) at microsecond resolution; GNU time's
%U/%S print hundredths of a second, too coarse for a 60 ms goal. Wall time is taken around the
spawn and the wait. Whatever a run needs first (a new directory, the kept secrets) is done
before the clock starts.

Exit 0 whether a goal is met or not (the goals are for later work); exit 2 when a command fails.

Usage: python3 benches/versus_podlet.py MISP_GEN PODLET WORKDIR MISP_SPEC RUNS
  WORKDIR holds big.yaml and big-compose.yaml (benches/synthetic_spec.py); MISP_SPEC is
  examples/misp.yaml.
"""
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import time


def run_once(argv, cwd):
    """One process: (user s, sys s, wall s, exit status). Output goes to /dev/null."""
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    here = os.getcwd()
    os.chdir(cwd)
    try:
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        os.chdir(here)
    return usage.ru_utime, usage.ru_stime, wall, os.waitstatus_to_exitcode(status)


def fail(what, argv, cwd, code):
    # Run it once more with its output shown, so the reason is on the screen.
    print(f'{what}: exit {code}: {" ".join(argv)} (in {cwd}); its last output lines:',
          file=sys.stderr)
    o = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors='replace')
    print('\n'.join((o.stdout + o.stderr).splitlines()[-20:]), file=sys.stderr)
    sys.exit(2)


def measure(what, argv, runs, cwd, prepare=None):
    """Median user, sys, user+sys and wall (ms) of `runs` runs after 2 warm-up runs.

    `prepare`, when given, is called before each run and returns the output directory, which
    `argv` (then a function of it) renders into."""
    samples = []
    for i in range(runs + 2):
        cmd = argv(prepare()) if prepare else argv
        u, s, w, code = run_once(cmd, cwd)
        if code != 0:
            fail(what, cmd, cwd, code)
        if i >= 2:
            samples.append((u, s, u + s, w))
    return {k: statistics.median(x[j] for x in samples) * 1000
            for j, k in enumerate(('user', 'sys', 'cpu', 'wall'))}


def fresh(work, name, secrets_from=None):
    """A preparation: a directory never used before, holding the kept secrets when given.

    Nothing is deleted until the end (the shell script removes WORKDIR): on ext4 without a
    journal, creating an inode after many deletions walks the recently freed ones
    (recently_deleted, for 5 minutes), which made each render after an `rm -rf` of the last
    one's output cost seconds of system CPU that belong to the benchmark, not to the tool."""
    runs = itertools.count()

    def prepare():
        out = os.path.join(work, f'{name}-{next(runs)}')
        if secrets_from:
            shutil.copytree(os.path.join(secrets_from, 'secrets'), os.path.join(out, 'secrets'))
        else:
            os.makedirs(out)
        return out
    return prepare


def main(argv):
    if len(argv) != 5 or not argv[4].isdigit() or int(argv[4]) < 1:
        sys.exit(__doc__.split('\n\n')[-1])
    bin_, podlet, work, misp, runs = argv[0], argv[1], argv[2], argv[3], int(argv[4])
    w = lambda *p: os.path.join(work, *p)  # noqa: E731
    # The kept outputs: secrets to copy into each new directory, and the directories re-rendered.
    for spec, out in ((w('big.yaml'), 'big-kept'), (misp, 'misp-kept')):
        argv_ = [bin_, 'render', spec, '--out', w(out)]
        code = run_once(argv_, work)[3]
        if code != 0:
            fail('misp-gen render', argv_, work, code)

    podlet_cmd = lambda out: [podlet, '--file', out, '--skip-services-check',  # noqa: E731
                              'compose', w('big-compose.yaml')]
    print('podlet command: ' + ' '.join(podlet_cmd(w('podlet-N'))), flush=True)
    render = lambda spec, *opts: lambda out: [bin_, 'render', spec, *opts, '--out', out]  # noqa: E731
    rows = [
        ('podlet: 1000 services, Quadlet (its one target), new dir', 'podlet',
         podlet_cmd, fresh(work, 'podlet')),
        ('misp-gen render: 1000 services, all targets, new dir', 'fresh1000',
         render(w('big.yaml')), fresh(work, 'all', w('big-kept'))),
        ('misp-gen render: 1000 services, systemd only, new dir', 'systemd1000',
         render(w('big.yaml'), '--target', 'systemd'), fresh(work, 'systemd', w('big-kept'))),
        ('misp-gen render: 1000 services, all targets, re-render', 'rerender1000',
         [bin_, 'render', w('big.yaml'), '--out', w('big-kept')], None),
        ('misp-gen validate: 1000 services', 'validate1000',
         [bin_, 'validate', w('big.yaml')], None),
        ('misp-gen render: MISP, all targets, new dir', 'freshmisp',
         render(misp), fresh(work, 'misp', w('misp-kept'))),
        ('misp-gen render: MISP, all targets, re-render', 'rerendermisp',
         [bin_, 'render', misp, '--out', w('misp-kept')], None),
    ]
    got = {}
    print(f'\n{runs} runs each (after 2 warm-up runs), medians in ms; "new dir": an empty output '
          'directory with the kept secrets, so no key is generated\n')
    print(f'{"command":<58} {"user":>8} {"sys":>8} {"user+sys":>9} {"wall":>8}')
    for label, key, cmd, prepare in rows:
        m = measure(label, cmd, runs, work, prepare)
        got[key] = m
        print(f'{label:<58} {m["user"]:8.1f} {m["sys"]:8.1f} {m["cpu"]:9.1f} {m["wall"]:8.1f}',
              flush=True)

    ratio = got['fresh1000']['user'] / got['podlet']['user']
    cpu_ratio = got['fresh1000']['cpu'] / got['podlet']['cpu']
    goals = [
        ('1000 services, all targets: misp-gen user CPU <= 3x podlet\'s (one target)',
         f'{ratio:.2f}x (user+sys: {cpu_ratio:.2f}x)', ratio <= 3),
        ('validate of 1000 services: CPU (user+sys) <= 60 ms',
         f'{got["validate1000"]["cpu"]:.1f} ms', got['validate1000']['cpu'] <= 60),
        ('re-render with no change costs no more than a fresh render (1000 services, CPU)',
         f'{got["rerender1000"]["cpu"]:.1f} vs {got["fresh1000"]["cpu"]:.1f} ms',
         got['rerender1000']['cpu'] <= got['fresh1000']['cpu']),
        ('re-render with no change costs no more than a fresh render (MISP, CPU)',
         f'{got["rerendermisp"]["cpu"]:.1f} vs {got["freshmisp"]["cpu"]:.1f} ms',
         got['rerendermisp']['cpu'] <= got['freshmisp']['cpu']),
        ('MISP re-render into its existing directory: wall <= 10 ms',
         f'{got["rerendermisp"]["wall"]:.1f} ms', got['rerendermisp']['wall'] <= 10),
    ]
    print(f'\n{"goal (issue 24)":<82} {"measured":<28} result')
    for goal, figure, met in goals:
        print(f'{goal:<82} {figure:<28} {"PASS" if met else "NOT YET"}')


if __name__ == '__main__':
    main(sys.argv[1:])
