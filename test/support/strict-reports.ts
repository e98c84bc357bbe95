import { onReportMismatch } from '../../src/cli/output/json.js';

// A user's run prints a report that does not fit its schema and says so on stderr; a test run fails.
onReportMismatch((line) => {
  throw new Error(line);
});
