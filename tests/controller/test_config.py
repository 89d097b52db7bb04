"""The controller's configuration: file, TRUENORTH_* overrides, flags, secrets by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from truenorth import config

FILE = """\
listen = "127.0.0.1:9000"
workers = 3
log_format = "json"
store_url = "postgresql://truenorth@db/truenorth"
store_password_env = "DB_PASSWORD"

[retry]
initial = "2s"
maximum = "1m"
tries = 7

[[repositories]]
name = "infra"
url = "https://git.example.com/org/infra.git"
branch = "prod"
poll_interval = "30s"
credentials_env = "INFRA_TOKEN"

[webhooks]
secret_file = "{secret_file}"

[[tokens]]
name = "ci"
role = "operator"
token_env = "CI_TOKEN"

[clusters.prod]
kubeconfig = "/etc/kube/prod"
context = "prod-ctx"
allowed_remote_hosts = ["github.com"]

[secrets]
prod-vault = {{ file = "/etc/vault-pass" }}
db = {{ env = "DB_SECRET" }}
"""

ENV = {
    "DB_PASSWORD": "p@ss/word",
    "INFRA_TOKEN": "infra-token-123456",
    "CI_TOKEN": "ci-token-0123456789abcdef",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "truenorth.toml"
    path.write_text(text)
    return path


def test_a_full_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "hook"
    secret_file.write_text("hook-secret\n")
    loaded = config.load_config(write(tmp_path, FILE.format(secret_file=secret_file)), environ=ENV)
    assert (loaded.listen, loaded.workers, loaded.log_format) == ("127.0.0.1:9000", 3, "json")
    assert loaded.store_url == "postgresql://truenorth:p%40ss%2Fword@db/truenorth"
    assert loaded.retry == config.RetryConfig(initial=2, maximum=60, tries=7)
    (repo,) = loaded.repositories
    assert (repo.name, repo.branch, repo.poll_interval, repo.credentials) == (
        "infra",
        "prod",
        30,
        "infra-token-123456",
    )
    assert repo.fetch_url() == "https://x-access-token:infra-token-123456@git.example.com/org/infra.git"
    assert "infra-token" not in repr(repo)
    assert loaded.webhook_secret == "hook-secret"
    assert [(t.name, t.role) for t in loaded.tokens] == [("ci", "operator")]
    assert loaded.clusters["prod"].settings() == {
        "kubeconfig": "/etc/kube/prod",
        "context": "prod-ctx",
        "allow_exec_credentials": "false",
        "allow_insecure_tls": "false",
        "allowed_remote_hosts": "github.com",
    }
    assert loaded.secret_files == {"prod-vault": Path("/etc/vault-pass")}
    assert loaded.secret_envs == {"db": "DB_SECRET"}
    assert set(loaded.secret_values()) == {"ci-token-0123456789abcdef", "infra-token-123456", "hook-secret"}


def test_flags_win_over_variables_which_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'listen = "127.0.0.1:9000"\nworkers = 3\noperation_timeout = "2h"\n')
    environ = {"TRUENORTH_LISTEN": "127.0.0.1:9100", "TRUENORTH_WORKERS": "5", "TRUENORTH_RETRY_TRIES": "9",
               "TRUENORTH_OPERATION_TIMEOUT": "10m"}  # fmt: skip
    loaded = config.load_config(path, environ=environ, overrides={"listen": "127.0.0.1:9200"})
    assert (loaded.listen, loaded.workers, loaded.retry.tries, loaded.operation_timeout) == (
        "127.0.0.1:9200",
        5,
        9,
        600,
    )


def test_quick_start_with_flags_alone() -> None:
    loaded = config.load_config(
        environ={"TRUENORTH_TOKEN": "admin-token-0123456789", "TRUENORTH_WEBHOOK_SECRET": "s3cret"},
        overrides={"repo": "file:///srv/infra", "branch": "dev", "poll_interval": "15s"},
    )
    (repo,) = loaded.repositories
    assert (repo.name, repo.url, repo.branch, repo.poll_interval) == (
        "default",
        "file:///srv/infra",
        "dev",
        15,
    )
    assert [(t.role, t.token) for t in loaded.tokens] == [("admin", "admin-token-0123456789")]
    assert loaded.webhook_secret == "s3cret"
    assert loaded.listen == "127.0.0.1:8080"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown setting(s): colour"),
        ('listen = "nowhere"\n', "is not HOST:PORT"),
        ("workers = 0\n", "workers: must be between 1 and 64"),
        ('log_format = "xml"\n', "log_format"),
        ('[[repositories]]\nname = "a"\nurl = "https://u:tok@h/r.git"\n', "not in the URL"),
        ('[[repositories]]\nname = "a b"\nurl = "https://h/r.git"\n', "name: missing or not a simple name"),
        ('[[repositories]]\nname = "a"\nurl = "https://h/r.git"\npoll_interval = "-1s"\n', "negative"),
        ('[[tokens]]\nrole = "root"\ntoken_env = "T"\n', "role: must be one of"),
        ('[[tokens]]\nrole = "admin"\ntoken = "inline-secret-value"\n', "never inline"),
        ('[[tokens]]\nrole = "admin"\ntoken_env = "UNSET_VARIABLE"\n', "UNSET_VARIABLE is not set"),
        ('[webhooks]\nsecret = "inline"\n', "never inline"),
        ('[secrets]\nx = "value"\n', "give file = PATH or env = NAME"),
        ("[clusters.c]\ncontext = 'x'\n", "kubeconfig: missing"),
        ("retry = 3\n", "retry: must be a table"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_configuration_names_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(write(tmp_path, text), environ={})
    assert message in str(caught.value)
    assert "inline-secret-value" not in str(caught.value)


def test_retry_delays_double_up_to_the_cap() -> None:
    retry = config.RetryConfig()
    assert [retry.delay(n) for n in range(1, 8)] == [5, 10, 20, 40, 80, 160, 180]


def repositories(*entries: tuple[str, str, str]) -> str:
    return "".join(
        f'[[repositories]]\nname = "{name}"\nurl = "{url}"\nbranch = "{branch}"\n'
        for name, url, branch in entries
    )


def test_two_branches_of_one_url_are_two_repositories(tmp_path: Path) -> None:
    text = repositories(
        ("prod", "https://git.example.com/org/infra.git", "main"),
        ("staging", "https://git.example.com/org/infra.git", "staging"),
    )
    loaded = config.load_config(write(tmp_path, text), environ={})
    assert [(r.name, r.branch) for r in loaded.repositories] == [("prod", "main"), ("staging", "staging")]


@pytest.mark.parametrize(
    "other",
    [
        "https://git.example.com/org/infra.git",
        "https://GIT.Example.com/org/infra",  # the host's case never tells repositories apart
        "ssh://git@git.example.com/org/infra.git",
        "git@git.example.com:org/infra.git",
    ],
)
def test_the_same_url_and_branch_twice_is_refused(tmp_path: Path, other: str) -> None:
    text = repositories(("one", "https://git.example.com/org/infra.git", "main"), ("two", other, "main"))
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(write(tmp_path, text), environ={})
    message = str(caught.value)
    assert "'one' and 'two' both track branch 'main' of git.example.com/org/infra" in message


def test_the_same_pair_is_refused_however_the_configuration_is_built() -> None:
    with pytest.raises(config.ConfigError, match="both track branch 'main'"):
        config.ControllerConfig(
            repositories=(
                config.RepositoryConfig(name="a", url="https://h/org/r.git"),
                config.RepositoryConfig(name="b", url="https://h/org/r"),
            )
        )


def test_paths_differing_in_case_are_two_repositories(tmp_path: Path) -> None:
    text = repositories(
        ("lower", "https://git.example.com/org/infra.git", "main"),
        ("upper", "https://git.example.com/Org/Infra.git", "main"),
    )
    loaded = config.load_config(write(tmp_path, text), environ={})
    assert [r.name for r in loaded.repositories] == ["lower", "upper"]


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        ("refs/heads/main", "not a plain branch name"),
        ("HEAD", "not a plain branch name"),
        ("-x", "starts with '-'"),
        ("a..b", "is not a branch, tag or commit name"),
        ("has space", "whitespace"),
    ],
)
def test_a_bad_branch_is_refused_with_its_setting(tmp_path: Path, branch: str, message: str) -> None:
    text = repositories(("infra", "https://h/org/infra.git", branch))
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(write(tmp_path, text), environ={})
    assert "repositories[0].branch" in str(caught.value)
    assert message in str(caught.value)


def test_a_bad_branch_flag_is_refused() -> None:
    with pytest.raises(config.ConfigError, match="branch: 'refs/heads/x' is not a plain branch name"):
        config.load_config(environ={}, overrides={"repo": "https://h/r.git", "branch": "refs/heads/x"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A switch written as text is refused: bool("false") would have turned exec credentials on.
        ('[clusters.c]\nkubeconfig = "/k"\nallow_exec_credentials = "false"\n', "must be true or false"),
        ('[clusters.c]\nkubeconfig = "/k"\nallow_insecure_tls = 1\n', "allow_insecure_tls: must be true or"),
        ('[clusters.c]\nkubeconfig = "/k"\ncontext = 3\n', "clusters.c.context: must be text"),
        # A number of seconds that is not a number never becomes "forever".
        ("operation_timeout = nan\n", "operation_timeout: must be a positive, finite number"),
        ("operation_timeout = inf\n", "operation_timeout: must be a positive, finite number"),
        ("operation_timeout = 1e12\n", "operation_timeout: 1000000000000.0 is longer than the maximum"),
        ('[[repositories]]\nname = "a"\nurl = "https://h/r.git"\npoll_interval = -inf\n', "finite"),
        ("workers = true\n", "workers: must be a whole number"),
        ("workers = 2.5\n", "workers: must be a whole number"),
        # A misspelled key is an error in every section, not a silent default.
        ("[retry]\ntries = 3\nmaximun = '1m'\n", "retry: unknown setting(s): maximun"),
        ("[webhooks]\nsecret_evn = 'X'\n", "webhooks: unknown setting(s): secret_evn"),
        (
            '[[tokens]]\nrole = "admin"\ntoken_env = "T"\nrol = "viewer"\n',
            "tokens[0]: unknown setting(s): rol",
        ),
        (
            '[clusters.c]\nkubeconfig = "/k"\nallow_exec_credential = true\n',
            "unknown setting(s): allow_exec_",
        ),
        ('[secrets]\nv = { file = "/f", mode = "x" }\n', "secrets.v: unknown setting(s): mode"),
        ('[secrets]\nv = { file = "/f", env = "V" }\n', "secrets.v: give file = PATH or env = NAME"),
        ('[[tokens]]\nname = 7\nrole = "admin"\ntoken_env = "T"\n', "tokens[0].name: must be text"),
    ],
)
def test_a_value_that_means_something_else_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(write(tmp_path, text), environ={"T": "t" * 16})
    assert message in str(caught.value)


def test_switches_written_as_booleans_are_read_as_written(tmp_path: Path) -> None:
    text = '[clusters.c]\nkubeconfig = "/k"\nallow_exec_credentials = true\nallow_insecure_tls = false\n'
    cluster = config.load_config(write(tmp_path, text), environ={}).clusters["c"]
    assert (cluster.allow_exec_credentials, cluster.allow_insecure_tls) == (True, False)


def test_an_inline_webhook_secret_is_refused_even_when_the_variable_is_set(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="never inline"):
        config.load_config(
            write(tmp_path, '[webhooks]\nsecret = "inline"\n'), environ={"TRUENORTH_WEBHOOK_SECRET": "s"}
        )


def test_files_that_are_not_text_are_configuration_errors(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00token")
    with pytest.raises(config.ConfigError, match="not UTF-8"):
        config.load_config(binary, environ={})
    text = f'[[tokens]]\nrole = "admin"\ntoken_file = "{binary}"\n'
    with pytest.raises(config.ConfigError, match=r"tokens\[0\].token_file: cannot read: not UTF-8 text"):
        config.load_config(write(tmp_path, text), environ={})


def test_the_package_names_what_its_sections_define() -> None:
    from truenorth.config import loading, settings

    assert config.ControllerConfig is settings.ControllerConfig
    assert config.load_config is loading.load_config
    assert sorted(config.__all__) == sorted(
        ["ROLES", "ClusterConfig", "ConfigError", "ControllerConfig", "ForgeConfig", "RepositoryConfig",
         "RetryConfig", "TokenConfig", "load_config", "parse_listen"]
    )  # fmt: skip


def test_secure_cookies_from_the_ui_section_or_the_variable(tmp_path: Path) -> None:
    assert config.load_config(environ={}, overrides={"repo": "https://h/r.git"}).secure_cookies is False
    path = write(
        tmp_path, '[ui]\nsecure_cookies = true\n[[repositories]]\nname = "r"\nurl = "https://h/r.git"\n'
    )
    assert config.load_config(path, environ={}).secure_cookies is True
    assert config.load_config(path, environ={"TRUENORTH_SECURE_COOKIES": "false"}).secure_cookies is False
    bare = {"TRUENORTH_SECURE_COOKIES": "true"}
    assert config.load_config(environ=bare, overrides={"repo": "https://h/r.git"}).secure_cookies is True
    with pytest.raises(config.ConfigError, match="TRUENORTH_SECURE_COOKIES: must be true or false"):
        config.load_config(path, environ={"TRUENORTH_SECURE_COOKIES": "maybe"})
    for text, message in (
        ('[ui]\nsecure_cookies = "yes"\n', "ui.secure_cookies: must be true or false"),
        ("[ui]\nsecure_cookie = true\n", "ui: unknown setting"),
    ):
        with pytest.raises(config.ConfigError, match=message):
            config.load_config(write(tmp_path, text), environ={})
