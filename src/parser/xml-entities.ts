/**
 * XML character references in tool-call parameter values. vLLM's `qwen3_xml` tool parser reads calls with an XML
 * (expat) parser, which decodes them; our chat template writes values verbatim (spec §5.2), so decoding is a choice:
 * a model that escapes `<` as `&lt;` gets `<` back, at the price that a value meant to contain the literal text
 * `&lt;` (e.g. HTML source) is decoded too.
 */

const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const REFERENCE = /&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));/g;

/**
 * Decodes the five predefined XML entities (`&lt; &gt; &amp; &quot; &apos;`) and numeric references (`&#NN;`,
 * `&#xNN;`) in one left-to-right pass, so `&amp;lt;` becomes `&lt;`, not `<`. Left verbatim: other names
 * (`&nbsp;`), a bare `&`, a reference without its `;`, and numeric references to code points XML does not allow
 * in text (0, surrogates U+D800–DFFF, above U+10FFFF). Never throws.
 */
export function decodeXmlEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(REFERENCE, (whole: string, name?: string, decimal?: string, hex?: string) => {
    if (name !== undefined) return NAMED[name] ?? whole;
    const codePoint = decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex ?? '', 16);
    const allowed = codePoint > 0 && codePoint <= 0x10ffff && (codePoint < 0xd800 || codePoint > 0xdfff);
    return allowed ? String.fromCodePoint(codePoint) : whole;
  });
}
