# shellcheck shell=bash
# Generating src/db/schema.rs from migrations/, shared by scripts/update-schema and .ci/run.
# Source scripts/lib/postgres.sh first. Run from the repository root (diesel.toml lives there).

# Makes sure the diesel CLI (PostgreSQL only) is on PATH, installing it if needed.
ensure_diesel_cli() {
    local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    case ":$PATH:" in
        *":$cargo_bin:"*) ;;
        *) PATH="$cargo_bin:$PATH" ;;
    esac
    if command -v diesel >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v pg_config >/dev/null 2>&1; then
        # diesel_cli links libpq; pg_config comes with its headers.
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpq-dev
        else
            printf 'error: diesel_cli needs libpq (install libpq-dev)\n' >&2
            return 1
        fi
    fi
    printf 'Installing diesel_cli (once; this takes a few minutes)\n' >&2
    cargo install diesel_cli --version '^2.3' --no-default-features --features postgres --locked
}

# Applies migrations/ to the empty database at URL $1 and writes the schema that
# `diesel print-schema` (configured by diesel.toml) generates into file $2.
# $3 is a scratch directory the caller cleans up.
generate_schema() {
    local url=$1 out=$2 workdir=$3
    # `diesel migration run` rewrites print_schema.file (src/db/schema.rs) after migrating.
    # Run it with an empty configuration so the file in the tree is left alone and the check
    # compares it with what the migrations produce; print-schema then reads diesel.toml.
    : >"$workdir/no-print-schema.toml"
    diesel migration --migration-dir migrations run \
        --config-file "$workdir/no-print-schema.toml" --database-url "$url" >&2
    diesel print-schema --database-url "$url" >"$out"
}
