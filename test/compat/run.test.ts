// `bramble run` honours a run() value (cmd, args, paths, read_only, hidden_paths, network),
// runs the program in the current directory, takes one value per path option, and refuses a
// program built for a system nothing here runs (issue 15).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, freshHome, repo } from "../helpers/cli.js";
import { TEST_ALLOWED_PATHS } from "../helpers/user-config.js";

// The program prints where it runs and its arguments, writes a file, and reads secret.txt.
const TOOL = `#!/bin/sh
echo "cwd=$(pwd) args=$*"
echo hi > written.txt 2>/dev/null && echo wrote || echo "cannot write"
cat secret.txt 2>/dev/null || echo "no secret"
`;

function project(): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-compat-run-"));
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "bramble.toml"), 'sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "rundemo"\n');
  writeFileSync(join(root, "tool.sh"), TOOL);
  writeFileSync(join(root, "secret.txt"), "topsecret\n");
  writeFileSync(
    join(root, "default.bramble"),
    `
def tool():
    return derivation(name = "tool", builder = "/bin/sh", sources = ["tool.sh"], args = ["-c", "mkdir -p $out/bin && cp tool.sh $out/bin/tool && chmod +x $out/bin/tool"])

def app():
    return run(tool(), "tool", args = ["--from-run"], paths = ["."], hidden_paths = ["secret.txt"])

def ro():
    return run(tool(), "tool", paths = ["."], read_only = True)

def darwin():
    return derivation(name = "mac", builder = "/bin/sh", system = "x86_64-darwin", platform = "x86_64-linux", args = ["-c", "mkdir -p $out/bin; echo x > $out/bin/tool"])
`,
  );
  return root;
}

describe("bramble run", () => {
  const home = freshHome();

  it("runs the run() value's cmd and args in the current directory, with its paths writable and hidden_paths hidden", () => {
    const root = project();
    const r = bramble(["run", ".:app", "extra"], { home, cwd: root });
    expect(r.stdout).toBe(`cwd=${root} args=--from-run extra\nwrote\nno secret\n`);
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, "written.txt"), "utf8")).toBe("hi\n");
  });

  it("binds read_only = True paths read-only", () => {
    const root = project();
    const r = bramble(["run", ".:ro"], { home, cwd: root });
    expect(r.stdout).toBe(`cwd=${root} args=\ncannot write\ntopsecret\n`);
    expect(existsSync(join(root, "written.txt"))).toBe(false);
  });

  it("takes one value per --paths and starts in a subdirectory it is run from", () => {
    const root = project();
    const r = bramble(["run", "--paths", ".", "--paths", "../sub", "..:tool", "tool", "a", "b"], { home, cwd: join(root, "sub") });
    expect(r.stdout).toBe(`cwd=${root}/sub args=a b\nwrote\nno secret\n`);
    expect(readFileSync(join(root, "sub/written.txt"), "utf8")).toBe("hi\n");
  });

  it("runs a program built for a system the qemu backend offers under qemu (examples/go's aarch64-linux binary)", () => {
    const r = bramble(["run", "--target", "aarch64-linux", "./examples/go:hello", "hello"], { home, timeoutMs: 600_000 });
    expect(r.stderr).toMatch(/built hello-go/);
    expect(r.stdout).toBe("Hello from linux/arm64\n");
    expect(r.code).toBe(0);
  }, 600_000);

  it("runs a program for a system qemu emulates without binfmt_misc under qemu-<arch>-static (a riscv64 Go binary, a qemu backend named rv)", () => {
    // No binfmt_misc entry for riscv64 here: the program runs only because bramble run starts it under qemu-riscv64-static.
    expect(existsSync("/proc/sys/fs/binfmt_misc/qemu-riscv64")).toBe(false);
    const root = mkdtempSync(join(tmpdir(), "bramble-compat-rv-"));
    for (const f of ["main.go", "go.mod"]) writeFileSync(join(root, f), readFileSync(join(repo, "examples/go", f)));
    writeFileSync(join(root, "bramble.toml"), '[package]\nname = "rv"\n');
    writeFileSync(
      join(root, "default.bramble"),
      `load("seeds", "go", "shell")

def prog():
    return shell(
        name = "hello-rv",
        script = "mkdir -p $out/bin && go build -trimpath -buildvcs=false -o $out/bin/hello .",
        sources = files(["main.go", "go.mod"]),
        env = {"GOOS": "linux", "GOARCH": "riscv64", "CGO_ENABLED": "0", "GOCACHE": "/tmp/go-cache", "GOPATH": "/tmp/go-path", "GOFLAGS": "-mod=mod"},
        system = "riscv64-linux",
        path = [go().out + "/bin"],
    )
`,
    );
    const config = join(root, "config.toml");
    writeFileSync(config, `[sandbox]\nallowed_paths = ${JSON.stringify(TEST_ALLOWED_PATHS)}\n\n[backends.rv]\nkind = "qemu"\nsystems = ["riscv64-linux"]\n`);
    const r = bramble(["run", ".:prog", "hello"], { home, cwd: root, timeoutMs: 600_000, env: { BRAMBLE_CONFIG: config } });
    expect(r.stderr).toMatch(/built hello-rv/);
    expect(r.stdout).toBe("Hello from linux/riscv64\n");
    expect(r.code).toBe(0);
  }, 600_000);

  it("refuses a program built for a system nothing here runs, naming it", () => {
    const root = project();
    const r = bramble(["run", ".:darwin", "tool"], { home, cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bramble run: mac is built for x86_64-darwin, and nothing here runs x86_64-darwin programs \(this machine runs x86_64-linux/);
  });
});
