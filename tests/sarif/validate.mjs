// Validates SARIF logs against the SARIF 2.1.0 JSON schema that the SARIF
// SDK's Multitool ships (draft 2020-12), formats included. Prints one JSON
// line: {"schema": <its title>, "errors": {<file>: [<ajv error>, ...]}}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const require = createRequire(import.meta.url);
const schemaPath = require.resolve('@microsoft/sarif-multitool-linux/sarif-2.1.0.json');
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
// strict: false, as the schema carries annotations Ajv does not know.
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);
const errors = {};
for (const file of process.argv.slice(2)) {
  const ok = validate(JSON.parse(readFileSync(file, 'utf8')));
  errors[file] = ok ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}
console.log(JSON.stringify({ schema: schema.title, errors }));
