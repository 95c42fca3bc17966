"""``shiyu users …`` and ``shiyu audit tail`` through the command's own entry point, exit codes included."""

from __future__ import annotations

import io
import re

import pytest

from geodata import audit, users
from shiyu.cli import main


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_resolves_the_area_code_and_prints_a_random_password_once(fresh, capsys, conn):
    code, out, _ = run(capsys, "users", "add", "olga", "--role", "officer", "--scope", "C1")
    assert code == 0 and "added olga: officer of C.C1" in out
    password = re.search(r"password \(shown once\): (\S+)", out).group(1)
    assert users.authenticate("olga", password).name == "olga"
    assert password not in conn.execute("SELECT password_hash FROM shiyu.app_user").fetchone()[0]


def test_add_reads_the_password_from_stdin_and_refuses_mistakes_in_one_line(fresh, capsys, monkeypatch):
    code, out, _ = run(capsys, "users", "add", "ada", "--role", "admin", "--scope", "city", "--password-stdin",
                       stdin="a long pass phrase\n", monkeypatch=monkeypatch)
    assert code == 0 and "whole database" in out and "shown once" not in out
    assert users.authenticate("ada", "a long pass phrase").scope.path is None
    code, _, err = run(capsys, "users", "add", "x", "--role", "viewer", "--scope", "NOPE")
    assert code == 2 and err.strip() == "shiyu: there is no area with code 'NOPE'; give an area code, or 'city' for the whole database"
    code, _, err = run(capsys, "users", "add", "ada", "--role", "viewer", "--scope", "city")
    assert code == 1 and err.count("\n") == 1 and "exists already" in err
    with pytest.raises(SystemExit) as usage:
        main(["users", "add", "x", "--role", "king", "--scope", "city"])
    assert usage.value.code == 2


def test_list_disable_and_token(fresh, capsys):
    users.add_user("cora", "commander", "city", password="a long pass phrase")
    code, out, err = run(capsys, "users", "token", "cora", "--display")
    token = out.strip()
    assert code == 0 and token.startswith("shiyu_") and "/wall?token=" in err
    assert users.token_user(token, None)[0].display
    code, out, _ = run(capsys, "users", "list")
    assert code == 0 and re.search(r"cora\s+commander\s+whole database\s+active\s+-\s+1", out)
    for _ in range(2):
        with pytest.raises(users.LoginRefused):
            users.authenticate("cora", "not her password", "10.9.8.7")
    assert re.search(r"cora\s+commander\s+whole database\s+active, 2 failed\s+-\s+1", run(capsys, "users", "list")[1])
    code, out, _ = run(capsys, "users", "disable", "cora")
    assert code == 0 and users.token_user(token, None) is None
    assert "disabled" in run(capsys, "users", "list")[1]
    assert run(capsys, "users", "disable", "nobody")[0] == 1


def test_audit_tail_prints_the_newest_rows_oldest_first(fresh, capsys):
    for action in ("login", "login_failed", "export"):
        audit.record(action, "olga", {"n": action}, "10.1.2.3")
    code, out, _ = run(capsys, "audit", "tail", "-n", "2")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert "login_failed" in lines[0] and "olga" in lines[0] and "10.1.2.3" in lines[0] and '{"n":"login_failed"}' in lines[0]
    assert "export" in lines[1]
    assert "login_failed" in run(capsys, "audit", "tail", "--action", "login_failed")[1]
    assert run(capsys, "audit", "tail", "-n", "0")[0] == 2


def test_the_demo_creates_its_admin_once_and_prints_a_fresh_password_each_run(fresh, capsys, monkeypatch):
    import argparse

    from geodata.settings import reload
    from shiyu.cli import _demo_login

    monkeypatch.setenv("SHIYU_AUTH", "on")
    reload()
    try:
        passwords = []
        for _ in range(2):
            _demo_login(argparse.Namespace(host="127.0.0.1", port=8050))
            out = capsys.readouterr().out
            passwords.append(re.search(r"/login as demo, password (\S+)", out).group(1))
    finally:
        monkeypatch.undo()
        reload()
    assert passwords[0] != passwords[1]
    assert users.authenticate("demo", passwords[1]).role == "admin"
    with pytest.raises(users.LoginRefused):
        users.authenticate("demo", passwords[0])
