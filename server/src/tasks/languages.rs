//! Comment syntax per language: which line comments, block comments and string literals a
//! file's language has, chosen by the file's name, its extension or its `#!` line.

/// Where a line comment may start.
#[derive(Clone, Copy)]
pub(super) enum At {
    Anywhere,
    /// At the start of the line or after whitespace: shell `$#` and YAML `a#b` are not comments.
    AfterSpace,
    /// Only as the line's first non-blank text: Vim `"`, Dockerfile `#`, batch `REM`.
    LineStart,
}

pub(super) struct LineComment {
    /// Matched ignoring ASCII case (for batch `REM`).
    pub(super) prefix: &'static str,
    pub(super) at: At,
}

pub(super) struct Quote {
    pub(super) open: &'static str,
    pub(super) close: &'static str,
    /// Whether the string may continue on the next line (`"""`, template literals).
    pub(super) multiline: bool,
    /// Whether a backslash escapes the next character.
    pub(super) escapes: bool,
}

/// How comments and strings are written in one language family.
pub(super) struct Syntax {
    pub(super) line: &'static [LineComment],
    pub(super) block: &'static [(&'static str, &'static str)],
    /// Whether block comments nest (Rust, Swift, Haskell, OCaml, ...).
    pub(super) nested: bool,
    /// Longest first where one opener starts another (`"""` before `"`).
    pub(super) quotes: &'static [Quote],
    /// Whether `'` opens a character literal (`'x'`, `'\n'`) but may also stand alone
    /// (Rust lifetimes, Haskell primes, MATLAB transpose).
    pub(super) char_literals: bool,
}

const fn anywhere(prefix: &'static str) -> LineComment {
    LineComment {
        prefix,
        at: At::Anywhere,
    }
}

const fn after_space(prefix: &'static str) -> LineComment {
    LineComment {
        prefix,
        at: At::AfterSpace,
    }
}

const fn line_start(prefix: &'static str) -> LineComment {
    LineComment {
        prefix,
        at: At::LineStart,
    }
}

const fn quote(open: &'static str, close: &'static str) -> Quote {
    Quote {
        open,
        close,
        multiline: false,
        escapes: true,
    }
}

const fn multiline(open: &'static str, close: &'static str) -> Quote {
    Quote {
        open,
        close,
        multiline: true,
        escapes: true,
    }
}

const fn raw(open: &'static str, close: &'static str, multiline: bool) -> Quote {
    Quote {
        open,
        close,
        multiline,
        escapes: false,
    }
}

const DQ: Quote = quote("\"", "\"");
const SQ: Quote = quote("'", "'");
const TRIPLE_DQ: Quote = multiline("\"\"\"", "\"\"\"");
const TRIPLE_SQ: Quote = multiline("'''", "'''");
const C_BLOCK: (&str, &str) = ("/*", "*/");
const HTML_BLOCK: (&str, &str) = ("<!--", "-->");

const fn syntax(
    line: &'static [LineComment],
    block: &'static [(&'static str, &'static str)],
    quotes: &'static [Quote],
) -> Syntax {
    Syntax {
        line,
        block,
        nested: false,
        quotes,
        char_literals: false,
    }
}

impl Syntax {
    const fn nested(mut self) -> Self {
        self.nested = true;
        self
    }

    const fn char_literals(mut self) -> Self {
        self.char_literals = true;
        self
    }
}

// The `//` family.
const C: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[DQ]).char_literals();
const JAVA: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[TRIPLE_DQ, DQ]).char_literals();
const KOTLIN: Syntax = JAVA.nested();
const JS: Syntax = syntax(
    &[anywhere("//")],
    &[C_BLOCK],
    &[DQ, SQ, multiline("`", "`")],
);
const GO: Syntax =
    syntax(&[anywhere("//")], &[C_BLOCK], &[DQ, raw("`", "`", true)]).char_literals();
const RUST: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[multiline("\"", "\"")])
    .nested()
    .char_literals();
const DART: Syntax = syntax(
    &[anywhere("//")],
    &[C_BLOCK],
    &[TRIPLE_DQ, TRIPLE_SQ, DQ, SQ],
);
const PHP: Syntax = syntax(&[anywhere("//"), anywhere("#")], &[C_BLOCK], &[DQ, SQ]);
const CSS: Syntax = syntax(&[], &[C_BLOCK], &[DQ, SQ]);
const SCSS: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[DQ, SQ]);
const HCL: Syntax = syntax(&[anywhere("#"), anywhere("//")], &[C_BLOCK], &[DQ]);
/// `.m` is Objective-C or MATLAB; `%` outside strings is a comment in one and the
/// modulo operator (never followed by a marker) in the other.
const OBJC_OR_MATLAB: Syntax =
    syntax(&[anywhere("//"), anywhere("%")], &[C_BLOCK], &[DQ]).char_literals();
const FSHARP: Syntax = syntax(&[anywhere("//")], &[("(*", "*)")], &[TRIPLE_DQ, DQ]).char_literals();
const PASCAL: Syntax = syntax(
    &[anywhere("//")],
    &[("{", "}"), ("(*", "*)")],
    &[raw("'", "'", false)],
);

// The `#` family.
const PYTHON: Syntax = syntax(&[anywhere("#")], &[], &[TRIPLE_DQ, TRIPLE_SQ, DQ, SQ]);
const RUBY: Syntax = syntax(&[anywhere("#")], &[], &[DQ, SQ]);
const SHELL: Syntax = syntax(&[after_space("#")], &[], &[DQ, SQ]);
/// R, Make, CMake, Tcl, awk, GraphQL, ...
const HASH: Syntax = syntax(&[anywhere("#")], &[], &[DQ, SQ]);
/// YAML plain scalars often hold apostrophes ("it's"), so only `"` is taken as a string.
const YAML: Syntax = syntax(&[after_space("#")], &[], &[DQ]);
const TOML: Syntax = syntax(
    &[anywhere("#")],
    &[],
    &[TRIPLE_DQ, raw("'''", "'''", true), DQ, raw("'", "'", false)],
);
const DOCKERFILE: Syntax = syntax(&[line_start("#")], &[], &[]);
const ELIXIR: Syntax = syntax(&[anywhere("#")], &[], &[TRIPLE_DQ, DQ, SQ]);
const NIM: Syntax = syntax(&[anywhere("#")], &[("#[", "]#")], &[TRIPLE_DQ, DQ])
    .nested()
    .char_literals();
const JULIA: Syntax = syntax(&[anywhere("#")], &[("#=", "=#")], &[TRIPLE_DQ, DQ])
    .nested()
    .char_literals();
const POWERSHELL: Syntax = syntax(&[anywhere("#")], &[("<#", "#>")], &[DQ, SQ]);
const COFFEE: Syntax = syntax(&[anywhere("#")], &[("###", "###")], &[DQ, SQ]);
const NIX: Syntax = syntax(&[anywhere("#")], &[C_BLOCK], &[DQ]);
/// ini, .gitignore, .editorconfig, .properties: comments are whole lines.
const CONFIG: Syntax = syntax(&[line_start("#"), line_start(";")], &[], &[]);

// The `--` family.
const LUA: Syntax = syntax(
    &[anywhere("--")],
    &[("--[[", "]]")],
    &[multiline("[[", "]]"), DQ, SQ],
);
const SQL: Syntax = syntax(&[anywhere("--")], &[C_BLOCK], &[SQ, DQ]);
const HASKELL: Syntax = syntax(&[anywhere("--")], &[("{-", "-}")], &[DQ])
    .nested()
    .char_literals();
const ADA: Syntax = syntax(&[anywhere("--")], &[], &[DQ]).char_literals();

// The `;` and `%` families.
const LISP: Syntax = syntax(&[anywhere(";")], &[("#|", "|#")], &[DQ]).nested();
const ASM: Syntax = syntax(
    &[anywhere(";"), anywhere("#"), anywhere("//")],
    &[C_BLOCK],
    &[DQ],
);
const TEX: Syntax = syntax(&[anywhere("%")], &[], &[]);
const ERLANG: Syntax = syntax(&[anywhere("%")], &[], &[DQ]);
const MATLAB: Syntax = syntax(&[anywhere("%")], &[("%{", "%}")], &[DQ]).char_literals();

// Markup.
const MARKUP: Syntax = syntax(&[], &[HTML_BLOCK], &[]);
/// Text holds apostrophes and URLs, so no strings, and `//` only after whitespace (in scripts).
const HTML: Syntax = syntax(&[after_space("//")], &[HTML_BLOCK], &[]);
const VUE: Syntax = syntax(&[after_space("//")], &[HTML_BLOCK, C_BLOCK], &[]);

// Single-purpose syntaxes.
const OCAML: Syntax = syntax(&[], &[("(*", "*)")], &[DQ]).nested().char_literals();
const VIM: Syntax = syntax(&[line_start("\""), line_start("#")], &[], &[SQ]);
const FORTRAN: Syntax = syntax(
    &[anywhere("!")],
    &[],
    &[raw("\"", "\"", false), raw("'", "'", false)],
);
const BATCH: Syntax = syntax(
    &[
        line_start("rem "),
        line_start("rem\t"),
        line_start("@rem "),
        line_start("::"),
    ],
    &[],
    &[],
);
const VISUAL_BASIC: Syntax = syntax(
    &[anywhere("'"), line_start("rem ")],
    &[],
    &[raw("\"", "\"", false)],
);
/// Unknown languages: the commonest comment forms, line comments only after whitespace.
const UNKNOWN: Syntax =
    syntax(&[after_space("//"), after_space("#")], &[C_BLOCK], &[DQ]).char_literals();

/// The syntax of `file`, by its name, then its extension, then a `#!` line.
pub(super) fn syntax_for(file: &str, text: &str) -> &'static Syntax {
    let name = base_name(file).to_ascii_lowercase();
    syntax_by_name(&name)
        .or_else(|| extension(&name).and_then(syntax_by_extension))
        .or_else(|| syntax_by_shebang(text))
        .unwrap_or(&UNKNOWN)
}

/// The extension of a file name; a dotfile's leading dot does not start one (`.bashrc`).
fn extension(name: &str) -> Option<&str> {
    let name = name.strip_prefix('.').unwrap_or(name);
    name.rsplit_once('.').map(|(_, extension)| extension)
}

/// The last component of a '/' (or '\\') separated path.
pub(super) fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

/// Files known by their whole (lower-cased) name.
fn syntax_by_name(name: &str) -> Option<&'static Syntax> {
    Some(match name {
        "makefile" | "gnumakefile" | "bsdmakefile" | "cmakelists.txt" | "justfile" => &HASH,
        "dockerfile" | "containerfile" => &DOCKERFILE,
        _ if name.starts_with("dockerfile.") || name.ends_with(".dockerfile") => &DOCKERFILE,
        "rakefile" | "gemfile" | "podfile" | "vagrantfile" | "brewfile" | "guardfile"
        | "fastfile" | "appfile" => &RUBY,
        "jenkinsfile" => &DART,
        "build" | "workspace" | "build.bazel" | "workspace.bazel" | "tiltfile" | "snakefile"
        | "sconstruct" | "sconscript" => &PYTHON,
        ".bashrc" | ".bash_profile" | ".bash_logout" | ".profile" | ".zshrc" | ".zshenv"
        | ".zprofile" | ".envrc" | "pkgbuild" | "apkbuild" => &SHELL,
        ".vimrc" | "_vimrc" | ".gvimrc" | ".exrc" => &VIM,
        ".gitignore" | ".gitattributes" | ".gitmodules" | ".gitconfig" | ".dockerignore"
        | ".npmignore" | ".ignore" | ".editorconfig" | ".env" | "codeowners"
        | "requirements.txt" => &CONFIG,
        _ => return None,
    })
}

/// Files known by their (lower-cased) extension.
fn syntax_by_extension(extension: &str) -> Option<&'static Syntax> {
    Some(match extension {
        "c" | "h" | "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "inl"
        | "ino" | "cu" | "cuh" | "cs" | "mm" | "glsl" | "vert" | "frag" | "hlsl" | "wgsl"
        | "metal" | "v" | "sv" | "svh" | "vh" | "proto" | "thrift" | "zig" | "odin" | "sol"
        | "move" | "cairo" | "gleam" | "prisma" | "d" | "hx" | "vala" | "pde" | "json"
        | "jsonc" | "json5" | "jsonnet" | "libsonnet" => &C,
        "java" => &JAVA,
        "kt" | "kts" | "scala" | "sc" | "sbt" | "swift" => &KOTLIN,
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" | "as" => &JS,
        "go" => &GO,
        "rs" => &RUST,
        "dart" | "groovy" | "gradle" | "gvy" => &DART,
        "php" | "phtml" => &PHP,
        "css" => &CSS,
        "scss" | "sass" | "less" | "styl" => &SCSS,
        "tf" | "tfvars" | "hcl" => &HCL,
        "m" => &OBJC_OR_MATLAB,
        "fs" | "fsi" | "fsx" => &FSHARP,
        "pas" | "dpr" | "lpr" => &PASCAL,
        "py" | "pyi" | "pyw" | "pyx" | "pxd" | "bzl" | "star" | "gyp" | "gypi" => &PYTHON,
        "rb" | "rake" | "gemspec" | "ru" | "podspec" | "cr" => &RUBY,
        // Shells and Perl, where `$#` and `s#a#b#` are not comments.
        "sh" | "bash" | "zsh" | "ksh" | "fish" | "bats" | "ebuild" | "eclass" | "pl" | "pm"
        | "t" | "raku" | "rakumod" => &SHELL,
        "r" | "cmake" | "mk" | "mak" | "make" | "tcl" | "awk" | "sed" | "jq" | "graphql"
        | "gql" | "pp" | "nginx" => &HASH,
        "yaml" | "yml" => &YAML,
        "toml" => &TOML,
        "ex" | "exs" => &ELIXIR,
        "nim" | "nims" | "nimble" => &NIM,
        "jl" => &JULIA,
        "ps1" | "psm1" | "psd1" => &POWERSHELL,
        "coffee" => &COFFEE,
        "nix" => &NIX,
        "ini" | "cfg" | "conf" | "properties" | "desktop" | "service" | "gitignore" => &CONFIG,
        "lua" => &LUA,
        "sql" | "pls" | "plsql" | "pgsql" | "psql" | "mysql" => &SQL,
        "hs" | "purs" | "elm" | "agda" | "idr" => &HASKELL,
        "adb" | "ads" | "ada" | "vhd" | "vhdl" => &ADA,
        "lisp" | "lsp" | "cl" | "el" | "clj" | "cljs" | "cljc" | "edn" | "scm" | "ss" | "rkt"
        | "fnl" | "sld" => &LISP,
        "asm" | "s" | "nasm" => &ASM,
        "tex" | "sty" | "cls" | "bib" | "dtx" | "ltx" => &TEX,
        "erl" | "hrl" | "escript" => &ERLANG,
        "mat" | "mlx" => &MATLAB,
        "html" | "htm" | "xhtml" => &HTML,
        "xml" | "xsd" | "xsl" | "xslt" | "svg" | "plist" | "xaml" | "csproj" | "vbproj"
        | "fsproj" | "props" | "targets" | "resx" | "wsdl" | "md" | "markdown" | "mdx" => &MARKUP,
        "vue" | "svelte" | "astro" => &VUE,
        "ml" | "mli" | "mll" | "mly" => &OCAML,
        "vim" => &VIM,
        "f" | "for" | "f77" | "f90" | "f95" | "f03" | "f08" => &FORTRAN,
        "bat" | "cmd" => &BATCH,
        "vb" | "vbs" | "bas" | "vba" => &VISUAL_BASIC,
        _ => return None,
    })
}

/// Scripts without an extension, by their interpreter: `#!/usr/bin/env python3`.
fn syntax_by_shebang(text: &str) -> Option<&'static Syntax> {
    let command = text.lines().next()?.strip_prefix("#!")?;
    let mut words = command.split_whitespace();
    let mut program = base_name(words.next()?);
    if program == "env" {
        program = words.find(|word| !word.starts_with('-'))?;
    }
    let program = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match program {
        "python" | "pypy" => &PYTHON,
        "ruby" => &RUBY,
        "node" | "deno" | "bun" => &JS,
        "lua" | "luajit" => &LUA,
        "php" => &PHP,
        // Shells, perl, Rscript, awk and every other `#!` interpreter comment with `#`.
        _ => &SHELL,
    })
}
