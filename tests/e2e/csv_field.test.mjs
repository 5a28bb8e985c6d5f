// The dashboard's CSV writer (web/src/util.js) on its own: quoting, and text that a spreadsheet
// would run as a formula neutralised while numbers stay numbers.
import { csv, csvField } from '../../web/src/util.js';
import * as h from './harness.mjs';

const hyperlink = '=HYPERLINK("http://example.invalid","click")';
h.check(csvField(hyperlink) === `"'=HYPERLINK(""http://example.invalid"",""click"")"`,
  'a model named =HYPERLINK(...) is written as text (apostrophe, quoted)', csvField(hyperlink));
for (const text of ['=1+1', '+cmd', '-2+3', '@SUM(A1)', '\tx', '\r=1', '-']) {
  h.check(csvField(text).replace(/^"/, '').startsWith(`'${text[0]}`), `text starting with ${JSON.stringify(text[0])} is neutralised`, csvField(text));
}
h.check(csvField(-1.5) === '-1.5', 'a negative number stays a number', csvField(-1.5));
h.check(csvField(-2e-7) === '-2e-7', 'a negative number in exponent form stays a number', csvField(-2e-7));
h.check(csvField('-1.5') === '-1.5', 'text that is a plain number (-1.5) is left as it is', csvField('-1.5'));
h.check(csvField('a-b=c') === 'a-b=c', 'a formula character inside a text is harmless and kept', csvField('a-b=c'));
h.check(csvField(null) === '' && csvField(undefined) === '', 'no value is an empty field');
h.check(csv(['model', 'delta_pct'], [[hyperlink, -12.5], ['fp16', 0]]) ===
  `model,delta_pct\n"'=HYPERLINK(""http://example.invalid"",""click"")",-12.5\nfp16,0\n`, 'a whole table');
process.exit(h.failed() ? 1 : 0);
