/**
 * Catastrophic regular expressions from the ReDoS literature, each with an
 * attack string builder. Under a backtracking engine (JavaScript's RegExp)
 * every input of this corpus takes exponential or high-polynomial time; under
 * RE2 a pattern either compiles and matches in linear time or is refused at
 * write time (`refused` says which, and why).
 *
 * Sources:
 * - OWASP, "Regular expression Denial of Service - ReDoS"
 *   (owasp.org/www-community/attacks/Regular_expression_Denial_of_Service_-_ReDoS), "Evil Regexes".
 * - Patterns the safe-regex2 write-time check accepted here before RE2 replaced it.
 * - Russ Cox, "Regular Expression Matching Can Be Simple And Fast" (swtch.com/~rsc/regexp/regexp1.html).
 * - Jan Goyvaerts, regular-expressions.info, "Catastrophic Backtracking".
 * - Microsoft .NET docs, "Backtracking in regular expressions".
 * - Cloudflare, "Details of the Cloudflare outage on July 2, 2019".
 * - Stack Exchange, "Outage Postmortem - July 20, 2016".
 * - npm/GitHub advisories, by CVE id (the vulnerable expression of the package; for
 *   ansi-regex see chalk/ansi-regex#37, for ansi-html Tjatse/ansi-html#19).
 * JavaScript-only escapes (\uhhhh) are transliterated to RE2's \x{hhhh} where
 * the entry says "RE2 form"; the original JavaScript form is kept as its own
 * (refused) entry for two of them.
 */

export interface Catastrophic {
  readonly name: string
  readonly pattern: string
  /** An input of exactly n characters that makes a backtracking engine blow up. */
  readonly attack: (n: number) => string
  /** Refused at write time: 'syntax' (not RE2), 'size' (program over the cap), or false (accepted, must be fast). */
  readonly refused: false | 'syntax' | 'size'
}

/** prefix + pump repeated + suffix, exactly n characters. */
export function pumped(prefix: string, pump: string, suffix: string): (n: number) => string {
  return (n) => {
    const room = n - prefix.length - suffix.length
    return prefix + pump.repeat(Math.ceil(room / pump.length)).slice(0, room) + suffix
  }
}

const aBang = pumped('', 'a', '!')

export const CORPUS: readonly Catastrophic[] = [
  // OWASP, "Evil Regexes"
  { name: 'OWASP (a+)+', pattern: '^(a+)+$', attack: aBang, refused: false },
  { name: 'OWASP ([a-zA-Z]+)*', pattern: '^([a-zA-Z]+)*$', attack: pumped('', 'a', '1'), refused: false },
  { name: 'OWASP (a|aa)+ (also passed safe-regex2)', pattern: '^(a|aa)+$', attack: aBang, refused: false },
  { name: 'OWASP (a|a?)+', pattern: '^(a|a?)+$', attack: aBang, refused: false },
  { name: 'OWASP (.*a){x} for x > 10', pattern: '^(.*a){12}$', attack: pumped('', 'a', 'b'), refused: false },
  { name: 'OWASP Java classname', pattern: '^(([a-z])+.)+[A-Z]([a-z])+$', attack: aBang, refused: false },
  {
    name: 'OWASP email validation (RegexLib)',
    pattern:
      '^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$',
    attack: aBang,
    refused: false,
  },
  {
    name: 'OWASP multiple email address validation (RegexLib)',
    pattern:
      "^[a-zA-Z]+(([\\'\\,\\.\\-][a-zA-Z ])?[a-zA-Z]*)*\\s+<(\\w[-._\\w]*\\w@\\w[-._\\w]*\\w\\.\\w{2,3})>$|^(\\w[-._\\w]*\\w@\\w[-._\\w]*\\w\\.\\w{2,3})$",
    attack: aBang,
    refused: false,
  },
  {
    name: 'OWASP decimal validator (RegexLib)',
    pattern: '^\\d*[0-9](|.\\d*[0-9]|)*$',
    attack: pumped('', '1', '!'),
    refused: false,
  },
  {
    // {1,63} of a nested group expands to ~800 RE2 instructions: over MAX_REGEX_PROGRAM.
    name: 'OWASP pattern matcher (RegexLib, URL)',
    pattern: '^([a-z0-9]+([\\-a-z0-9]*[a-z0-9]+)?\\.){0,}([a-z0-9]+([\\-a-z0-9]*[a-z0-9]+)?){1,63}(\\.[a-z0-9]{2,7})+$',
    attack: aBang,
    refused: 'size',
  },

  // Accepted by safe-regex2: 32 s for 32 characters on /evaluate before RE2
  { name: 'safe-regex2 passed (a|a)*', pattern: '^(a|a)*$', attack: aBang, refused: false },
  { name: 'safe-regex2 passed (\\w|\\d)*!', pattern: '^(\\w|\\d)*!$', attack: pumped('', '1', ''), refused: false },
  { name: 'safe-regex2 passed .*.*.*.*.*.*=', pattern: '.*.*.*.*.*.*=$', attack: pumped('', '=', 'x'), refused: false },

  // Textbook nested and overlapping quantifiers
  { name: 'nested star (a*)*', pattern: '^(a*)*$', attack: aBang, refused: false },
  { name: 'regular-expressions.info (x+x+)+y', pattern: '(x+x+)+y', attack: pumped('', 'x', ''), refused: false },
  {
    name: 'regular-expressions.info CSV ^(.*?,){11}P',
    pattern: '^(.*?,){11}P',
    attack: pumped('', '1,', ''),
    refused: false,
  },
  { name: 'Russ Cox a?{29}a{29}', pattern: '^(?:a?){29}a{29}$', attack: pumped('', 'a', ''), refused: false },
  {
    name: 'Microsoft .NET docs part number',
    pattern: '(?i)^[0-9A-Z]([-.\\w]*[0-9A-Z])*$',
    attack: aBang,
    refused: false,
  },
  { name: 'nested (.*a){20}', pattern: '(.*a){20}$', attack: pumped('', 'a', 'b'), refused: false },

  // Outages
  {
    name: 'Cloudflare WAF, 2 July 2019',
    pattern:
      '(?:(?:\\"|\'|\\]|\\}|\\\\|\\d|(?:nan|infinity|true|false|null|undefined|symbol|math)|\\`|\\-|\\+)+[)]*;?((?:\\s|-|~|!|{}|\\|\\||\\+)*.*(?:.*=.*)))',
    attack: pumped('', '1', ''),
    refused: false,
  },
  {
    name: 'Stack Overflow, 20 July 2016 (RE2 form)',
    pattern: '^[\\s\\x{200c}]+|[\\s\\x{200c}]+$',
    attack: pumped('x', ' ', 'x'),
    refused: false,
  },
  {
    name: 'Stack Overflow, 20 July 2016 (JavaScript form: \\u is not RE2)',
    pattern: '^[\\s\\u200c]+|[\\s\\u200c]+$',
    attack: pumped('x', ' ', 'x'),
    refused: 'syntax',
  },

  // CVEs (npm packages)
  {
    name: 'ms, CVE-2015-8315',
    pattern:
      '(?i)^((?:\\d+)?\\.?\\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|years?|yrs?|y)?$',
    attack: pumped('', '1', '!'),
    refused: false,
  },
  { name: 'mime, CVE-2017-16138', pattern: '.*[\\.\\/\\\\]', attack: pumped('', 'a', ''), refused: false },
  { name: 'fresh, CVE-2017-16119', pattern: ' *, *', attack: pumped('', ' ', ''), refused: false },
  { name: 'lodash trimEnd, CVE-2020-28500', pattern: '\\s+$', attack: pumped('x', ' ', 'x'), refused: false },
  { name: 'trim-newlines, CVE-2021-33623', pattern: '[\\r\\n]+$', attack: pumped('a', '\n', 'a'), refused: false },
  {
    name: 'nth-check, CVE-2021-3803',
    pattern: '^([+-]?\\d*n)?\\s*(?:([+-]?)\\s*(\\d+))?$',
    attack: pumped('', ' ', 'x'),
    refused: false,
  },
  {
    name: 'path-parse, CVE-2021-23343',
    pattern: '^(\\/?|)([\\s\\S]*?)((?:\\.{1,2}|[^\\/]+?|)(\\.[^.\\/]*|))(?:[\\/]*)$',
    attack: pumped('', '/', 'x'),
    refused: false,
  },
  {
    name: 'ssri, CVE-2021-27290',
    pattern: '^([a-z0-9]+)-([A-Za-z0-9+/=]{44,88})(\\?[\\x21-\\x7E]*)*$',
    attack: pumped(`sha512-${'a'.repeat(44)}`, '?', ' '),
    refused: false,
  },
  {
    name: 'ansi-regex, CVE-2021-3807 (RE2 form)',
    pattern:
      '[\\x{1B}\\x{9B}][[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[-a-zA-Z\\d\\/#&.:=?%@~_]*)*)?\\x{07})|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PR-TZcf-ntqry=><~]))',
    attack: pumped('\u001b[', ';', ''),
    refused: false,
  },
  {
    name: 'ansi-regex, CVE-2021-3807 (JavaScript form: \\u is not RE2)',
    pattern:
      '[\\u001B\\u009B][[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[-a-zA-Z\\d\\/#&.:=?%@~_]*)*)?\\u0007)|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PR-TZcf-ntqry=><~]))',
    attack: pumped('\u001b[', ';', ''),
    refused: 'syntax',
  },
  {
    name: 'ansi-html, CVE-2021-23424',
    pattern: '\\x1b\\[(\\d+)*m',
    attack: pumped('\u001b[', '0', ''),
    refused: false,
  },
  {
    name: 'moment matchWord, CVE-2017-18214 (RE2 form)',
    pattern:
      "(?i)[0-9]*['a-z\\x{00A0}-\\x{05FF}\\x{0700}-\\x{D7FF}\\x{F900}-\\x{FDCF}\\x{FDF0}-\\x{FFEF}]+|[\\x{0600}-\\x{06FF}/]+(\\s*?[\\x{0600}-\\x{06FF}]+){1,2}",
    attack: pumped('', '1', '!'),
    refused: false,
  },
  {
    name: 'marked em, CVE-2017-16114 (negative lookahead)',
    pattern: '^\\b_((?:__|[\\s\\S])+?)_\\b|^\\*((?:\\*\\*|[\\s\\S])+?)\\*(?!\\*)',
    attack: pumped('_', '_', 'a'),
    refused: 'syntax',
  },

  // Backtracking-only features around a nested quantifier: RE2 has none of them
  { name: 'backreference after (a+)+', pattern: '^(a+)+\\1$', attack: aBang, refused: 'syntax' },
  { name: 'lookahead over (a+)+', pattern: '^(?=(a+)+$)a', attack: aBang, refused: 'syntax' },
  { name: 'lookbehind over (a|a)*', pattern: '(?<=(a|a)*)b', attack: pumped('', 'a', 'c'), refused: 'syntax' },
]

/** The length of the adversarial inputs the issue asks for. */
export const ATTACK_LENGTH = 10_000
