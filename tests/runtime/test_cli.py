"""CLI verbs: install, installations, uninstall."""
from __future__ import annotations


def test_install_list_uninstall_from_the_command_line(catalog, factory, runner):
    catalog.toy(version="1.0.0")
    email = factory.user("adopter", "330100")
    refused = runner.invoke(["install", "toy-echo", "--as", email])
    assert refused.exit_code == 1 and "accept_terms" in refused.stderr
    done = runner.invoke(["install", "toy-echo", "--as", email, "--version", "1.0.0",
                          "--accept-terms"])
    assert done.exit_code == 0, done.stderr
    installation_id, module, version, kind, state = done.stdout.strip().split("\t")
    assert (module, version, kind, state) == ("toy-echo", "1.0.0", "free", "active")
    listed = runner.invoke(["installations", "--as", email])
    assert listed.stdout.startswith(f"{installation_id}\ttoy-echo\t1.0.0")
    again = runner.invoke(["install", "toy-echo", "--as", email, "--accept-terms"])
    assert again.exit_code == 1 and again.stderr.startswith("error: toy-echo is already installed")
    other = factory.user("adopter", "440300")
    foreign = runner.invoke(["uninstall", installation_id, "--as", other])
    assert foreign.exit_code == 1 and "no installation" in foreign.stderr
    ended = runner.invoke(["uninstall", installation_id, "--as", email])
    assert ended.exit_code == 0 and ended.stdout.strip().endswith("ended")
    assert runner.invoke(["installations", "--as", email]).stdout == ""
