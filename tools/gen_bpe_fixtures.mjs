// gen_bpe_fixtures.mjs -- expected GPT-2 BPE token ids from the real tiktoken (its WASM build
// for node), for tests/test_bpe.c.
//
//   mkdir -p /tmp/tk && (cd /tmp/tk && npm install tiktoken)      # or `npm install tiktoken` in the repo
//   NODE_PATH=/tmp/tk/node_modules node tools/gen_bpe_fixtures.mjs   # from the repository root
//
// writes
//   tests/fixtures/bpe_cases.json       {"tiktoken_version", "node", "unicode", "encoding": "gpt2",
//                                         "cases": [{"label", "hex", "ordinary": [...], "special": [...]}],
//                                         "invalid_utf8": [{"label", "hex", "ordinary", "special", "fffd"}],
//                                         "shakespeare": {...}}
//   tests/fixtures/bpe_shakespeare.bin  encode_ordinary(tinyshakespeare) as little-endian uint16
//
// "ordinary" is enc.encode_ordinary(text) (<|endoftext|> is plain text); "special" is
// enc.encode(text, ["<|endoftext|>"]) (Python: encode(text, allowed_special={"<|endoftext|>"})).
//
// Invalid UTF-8. tiktoken only encodes strings: Python's encode takes a str, and the JS
// binding takes a JS string that wasm-bindgen turns into UTF-8 with TextEncoder, so a lone
// surrogate becomes U+FFFD (checked below), and a Uint8Array is refused. Raw invalid bytes
// therefore never reach tiktoken's BPE; our rule for them (the one that keeps
// decode(encode(x)) == x for any bytes) is: every byte that is not part of a valid UTF-8
// sequence is one "character" of its own, in the class [^\s\p{L}\p{N}] -- the class of U+FFFD
// (and of the lone surrogate Python's surrogateescape would make of it) -- so the pre-tokenizer
// splits exactly where tiktoken splits the text with each invalid byte replaced by U+FFFD,
// and BPE then runs on the raw bytes of each piece. Those expected ids come from a reference
// encoder written here (the GPT-2 pattern as a JS regex + tiktoken's merge loop, with the
// ranks read out of tiktoken), which must first reproduce tiktoken exactly on every valid
// case and on the whole of tinyshakespeare. Each invalid case also records "fffd": tiktoken's
// own ids for the text with every invalid byte replaced by U+FFFD.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);   // require() honours NODE_PATH, import does not
const { get_encoding } = require("tiktoken");
let tiktokenVersion = "unknown";
for (const base of [process.env.NODE_PATH, path.resolve("node_modules")].filter(Boolean)) {
    const p = path.join(base.split(":")[0], "tiktoken", "package.json");
    if (fs.existsSync(p)) { tiktokenVersion = JSON.parse(fs.readFileSync(p, "utf8")).version; break; }
}
if (tiktokenVersion === "unknown") {
    try { tiktokenVersion = require("tiktoken/package.json").version; } catch { /* keep unknown */ }
}

const enc = get_encoding("gpt2");
const EOT = "<|endoftext|>";
const ordinary = (s) => Array.from(enc.encode_ordinary(s));
const special = (s) => Array.from(enc.encode(s, [EOT]));
const te = new TextEncoder();

// ---------------------------------------------------------------------------------------
// reference encoder (for raw bytes): regex split + tiktoken's byte_pair_merge
const ranks = new Map();   // "b,b,b" -> rank
for (const bytes of enc.token_byte_values()) {
    const r = enc.encode_single_token(Uint8Array.from(bytes));
    ranks.set(Array.from(bytes).join(","), r);
}
const rankOf = (bytes, a, b) => {
    const r = ranks.get(Array.prototype.slice.call(bytes, a, b).join(","));
    return r === undefined ? Infinity : r;
};
function bpe(bytes) {                       // tiktoken's byte_pair_encode on a Uint8Array
    const whole = rankOf(bytes, 0, bytes.length);
    if (whole !== Infinity) return [whole];
    const starts = [];
    for (let i = 0; i <= bytes.length; i++) starts.push(i);
    for (;;) {
        let best = Infinity, at = -1;
        for (let i = 0; i + 2 < starts.length; i++) {
            const r = rankOf(bytes, starts[i], starts[i + 2]);
            if (r < best) { best = r; at = i; }
        }
        if (at < 0) break;
        starts.splice(at + 1, 1);
    }
    const out = [];
    for (let i = 0; i + 1 < starts.length; i++) out.push(rankOf(bytes, starts[i], starts[i + 1]));
    return out;
}
// \s of Rust's regex crate is the Unicode White_Space property; JS's \s differs (it has
// U+FEFF, lacks U+0085), so spell the class out.
const WS = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PAT = new RegExp(`'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, "gu");

// Splits bytes into units: [start, end, codepoint] (codepoint 0xFFFD for an invalid byte).
function units(bytes) {
    const out = [];
    for (let i = 0; i < bytes.length;) {
        const c = bytes[i];
        let len = 0, v = 0, min = 0;
        if (c < 0x80) { out.push([i, i + 1, c]); i++; continue; }
        if (c >= 0xC2 && c < 0xE0) { len = 2; v = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c < 0xF0) { len = 3; v = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c < 0xF5) { len = 4; v = c & 0x07; min = 0x10000; }
        let ok = len > 0 && i + len <= bytes.length;
        for (let k = 1; ok && k < len; k++) {
            if ((bytes[i + k] & 0xC0) !== 0x80) ok = false;
            else v = v * 64 + (bytes[i + k] & 0x3F);
        }
        if (ok && (v < min || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)) ok = false;
        if (ok) { out.push([i, i + len, v]); i += len; }
        else { out.push([i, i + 1, 0xFFFD]); i++; }
    }
    return out;
}
function refOrdinary(bytes) {
    const us = units(bytes);
    const str = us.map((u) => String.fromCodePoint(u[2])).join("");
    // code unit offset -> unit index
    const unitAt = new Map();
    let off = 0;
    us.forEach((u, k) => { unitAt.set(off, k); off += u[2] > 0xFFFF ? 2 : 1; });
    unitAt.set(off, us.length);
    const ids = [];
    for (const m of str.matchAll(PAT)) {
        const a = unitAt.get(m.index), b = unitAt.get(m.index + m[0].length);
        const s = a < us.length ? us[a][0] : bytes.length, e = b < us.length ? us[b][0] : bytes.length;
        ids.push(...bpe(bytes.subarray(s, e)));
    }
    return ids;
}
function refSpecial(bytes) {
    const eot = te.encode(EOT);
    const ids = [];
    let start = 0;
    for (let i = 0; i + eot.length <= bytes.length; i++) {
        let hit = true;
        for (let k = 0; k < eot.length && hit; k++) hit = bytes[i + k] === eot[k];
        if (!hit) continue;
        ids.push(...refOrdinary(bytes.subarray(start, i)), 50256);
        i += eot.length - 1;
        start = i + 1;
    }
    ids.push(...refOrdinary(bytes.subarray(start)));
    return ids;
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (bytes) => Buffer.from(bytes).toString("hex");

// ---------------------------------------------------------------------------------------
// the test strings
let seed = 12345;
const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296; };
const pick = (a) => a[Math.floor(rand() * a.length)];

const texts = [];
const add = (label, s) => texts.push([label, s]);
// English and prose
add("empty", "");
add("hello", "hello world");
add("sentence", "The quick brown fox jumps over the lazy dog.");
add("capitals", "HELLO WORLD, This Is Title Case AND SHOUTING");
add("punct", "Hello, world! How are you? I'm fine; thanks: (really) [yes] {no} <maybe>");
add("quotes", "\"Double\" and 'single' and `back` quotes");
add("shakespeare", "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n");
add("ellipsis", "Wait... what?! No!!! ...and then -- nothing --- at all");
add("hyphen", "state-of-the-art well-known e-mail co-operate");
add("url", "See https://example.com/path?q=1&r=two#frag or mailto:someone@example.org");
add("email", "contact: first.last+tag@sub.domain.co.uk");
add("markdown", "# Title\n\n* item one\n* item two\n\n```python\nprint('x')\n```\n");
add("html", "<html><body class=\"main\"><p>Text &amp; more</p></body></html>");
add("json", "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}");
// contractions
add("contractions", "I'm you're he's she'd we've they'll it's can't won't don't");
add("contractions_upper", "I'M YOU'RE HE'S SHE'D WE'VE THEY'LL IT'S 'S 'LL 'RE 'VE 'M 'D 'T");
add("contractions_mixed", "'S 'LL 'Ll 'lL 'Re 'rE 'vE 'Ve 'M 'D 'T");
add("contractions_curly", "I’m you’re he’s she’d we’ve they’ll it’s ’s ’ll");
add("contractions_bare", "'s 't 're 've 'm 'll 'd");
add("contractions_glued", "'s's'll'd're've'm't''s'''ll");
add("contractions_space", " 's  'll   're x's x 's");
add("contractions_words", "'steve 'don 'llama 'reveal 'dog 'moo 'tree");
add("apostrophes", "'''' '' ' a' 'a '1 '!");
add("contraction_end", "it'");
add("contraction_end2", "it'l");
add("contraction_digit", "'99 '9s 's9");
// numbers
add("digits", "0123456789");
add("numbers", "1 12 123 1234 12345 123456 1234567 3.14159 -42 +7 1e10 0x1F 1,000,000");
add("number_words", "abc123def 123abc abc123 1st 2nd 3rd 4th");
add("dates", "2024-01-31T12:34:56Z 31/12/1999 12:00 pm");
add("money", "$100 €50 £3.50 ¥1000 100% 50¢");
add("superscripts", "x² y³ ¼ ½ ¾ ① ② Ⅻ ⅷ");
add("arabic_digits", "٠١٢٣٤٥٦٧٨٩ and ०१२३ and 〇一二三");
add("fullwidth_digits", "１２３ ＡＢＣ ａｂｃ");
// whitespace
add("spaces1", " ");
add("spaces2", "  ");
add("spaces3", "   ");
add("spaces16", " ".repeat(16));
add("spaces_word", "   hello");
add("spaces_between", "a  b   c    d     e");
add("trailing_space", "hello ");
add("trailing_spaces", "hello   ");
add("leading_trailing", "  hello world  ");
add("tabs", "\tindented\n\t\tdouble\t tab \t");
add("newline", "\n");
add("newlines2", "\n\n");
add("newlines_text", "line1\nline2\n\nline4\n\n\nline7");
add("crlf", "windows\r\nline\r\n\r\nend\r\n");
add("cr_only", "old\rmac\r");
add("spaces_newline", "a \nb  \n c \n  d");
add("newline_spaces", "\n   \n\t \n");
add("indent_code", "def f(x):\n    if x:\n        return 1\n    return 0\n");
add("vt_ff", "a\u000bb\u000cc\u000b\u000c");
add("unicode_spaces", "a\u00a0b\u2000c\u2003d\u3000e\u202ff\u205fg\u1680h");
add("unicode_spaces_runs", "\u00a0\u00a0x \u00a0y\u00a0 z\u3000\u3000");
add("nel_ls_ps", "a\u0085b\u2028c\u2029d\u0085");
add("zero_width", "a\u200bb\u200cc\u200dd\u2060e\ufefff");
add("bom_start", "\ufeffhello");
add("only_whitespace_mix", " \t\n\r\u00a0 \u3000\n");
add("space_before_punct", "a , b . c ! d ?");
add("space_before_digit", "x 1 2  3   4");
// code
add("c_code", "int main(int argc, char **argv) {\n    printf(\"%d\\n\", argc);\n    return 0;\n}\n");
add("python_code", "for i in range(10):\n    print(f\"{i:>3}\")  # comment\n");
add("js_code", "const f = (a, b) => a ?? b; // arrow\nlet x = [...arr].map(v => v * 2);");
add("operators", "a+=1; b-=2; c*=3; d/=4; e%=5; f**=6; g//=7; h<<=8; i>>=9; j&&k||l; m!=n; o===p");
add("brackets", "((((( ))))) [[[[ ]]]] {{{{ }}}} <<<< >>>>");
add("underscores", "__init__ _private snake_case_name CONSTANT_VALUE __");
add("camel", "camelCaseName PascalCaseName XMLHttpRequest getHTTPResponseCode");
add("path", "/usr/local/bin/python3 C:\\Windows\\System32\\cmd.exe ./a/b/../c");
add("regex", "^\\s*(?:[A-Za-z_][A-Za-z0-9_]*)\\s*=\\s*(\\d+(?:\\.\\d*)?)$");
add("shell", "for f in *.txt; do echo \"$f\" | tr a-z A-Z > \"${f%.txt}.out\"; done");
add("sql", "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;");
add("hex_dump", "00 1a 2B ff FF deadbeef 0xDEADBEEF");
add("base64", "SGVsbG8gV29ybGQhIFRoaXMgaXMgYmFzZTY0Lg==");
add("punct_runs", "!!!??? ...,,, ;;;::: ---___ === +++ *** ### @@@ $$$ %%% ^^^ &&& |||");
add("ascii_all", Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join(""));
add("ascii_controls", Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("") + "\u007f");
add("nul", "a\u0000b\u0000\u0000c");
add("nul_only", "\u0000");
add("controls_text", "bell\u0007 esc\u001b[31mred\u001b[0m del\u007f us\u001f");
add("c1_controls", "a\u0080b\u0081\u009fc\u0085d");
// accents, combining marks, scripts
add("accents", "café naïve résumé jalapeño Zürich façade coöperate");
add("accents_upper", "CAFÉ ÉCOLE ÀÁÂÃÄÅ ÇÈÉÊË ÑÒÓÔÕÖ");
add("combining", "e\u0301 a\u0300\u0301\u0302 n\u0303 o\u0308\u0304 x\u0338");
add("combining_alone", "\u0301\u0302 \u0303 a \u0300");
add("combining_zalgo", "Z\u0351\u036b\u0343a\u0352\u0301l\u0300\u0315g\u0342\u036co\u0308");
add("german", "Straße Größe Übung über ÄÖÜ äöü ß ẞ");
add("polish", "Zażółć gęślą jaźń");
add("turkish", "İstanbul ıi İI Şişli ğüş");
add("greek", "Ελληνικά γράμματα: αβγδε ΑΒΓΔΕ ς σ Σ");
add("cyrillic", "Привет, мир! Съешь же ещё этих мягких французских булок.");
add("hebrew", "שלום עולם, זה טקסט בעברית.");
add("arabic", "مرحبا بالعالم! هذا نص عربي.");
add("rtl_mixed", "English עברית English العربية 123 ٤٥٦");
add("rtl_marks", "a\u200fb\u200ec\u202bd\u202ce\u2067f\u2069");
add("hindi", "नमस्ते दुनिया, यह हिंदी है।");
add("thai", "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง");
add("korean", "안녕하세요 세계! 한국어 텍스트입니다.");
add("korean_jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af");
add("japanese", "こんにちは世界。日本語のテキストです。カタカナ ｶﾀｶﾅ");
add("chinese", "你好，世界！这是中文文本。");
add("chinese_long", "中华人民共和国成立于一九四九年十月一日，首都是北京。");
add("cjk_ext_b", "𠀀𠀁𠀂 𪚥 𩸽");
add("cjk_punct", "「引用」『二重』【括弧】〈山〉《书》、。・");
add("vietnamese", "Tiếng Việt có dấu: ắ ằ ẳ ẵ ặ");
add("georgian", "ქართული ენა");
add("armenian", "Հայերեն լեզու");
add("ethiopic", "ሰላም ዓለም");
add("cherokee", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ");
add("math_letters", "𝐀𝐁𝐂 𝑥𝑦𝑧 𝔸𝔹ℂ ℵ ℏ ∀x∃y");
add("math_symbols", "∑∏∫√∞≠≤≥±×÷ ∂f/∂x = 0 → ⇒ ⟨a|b⟩");
add("currency_symbols", "₿₹₽₩₪₫€£¥¢");
add("modifier_letters", "ʰʲʷ ˈstres ˌsekəndəri ʼ ˆ ˇ");
add("roman_numerals", "Ⅰ Ⅱ Ⅲ Ⅳ ⅰⅱⅲ ↀ");
add("titlecase", "ǅ ǈ ǋ ǲ ᾈ");
add("letter_number_mix", "aⅫb 3ⅷ ½x");
add("other_numbers", "⑴⑵⑶ ⒈⒉ ➀➁ ０");
add("private_use", "\ue000\ue001 \uf8ff x\ue000y");
add("noncharacters", "\ufdd0\ufffe\uffff \u{1fffe}\u{10ffff}");
add("replacement_char", "a\ufffdb \ufffd\ufffd");
add("specials_block", "\ufff9\ufffa\ufffb\ufffc");
add("supplementary_misc", "𐍈𐌰𐍂 𓀀𓁐 𝄞 🀄");
add("tags", "\u{e0001}\u{e0041}\u{e007f}");
add("variation_selectors", "☺\ufe0f ☺\ufe0e 葛\u{e0100}");
// emoji
add("emoji", "Hello 👋 world 🌍! 😀😃😄");
add("emoji_only", "🎉🎊🎈");
add("emoji_zwj_family", "👨‍👩‍👧‍👦 family");
add("emoji_zwj_misc", "🏳️‍🌈 🧑‍💻 👩🏽‍🚀 ❤️‍🔥");
add("emoji_skin", "👍🏻👍🏼👍🏽👍🏾👍🏿");
add("emoji_flags", "🇺🇸🇬🇧🇯🇵 🇩🇪");
add("emoji_keycap", "1️⃣ #️⃣ *️⃣");
add("emoji_words", "I❤️NY cafe☕time 🍕pizza🍕");
add("emoji_spaces", " 😀  😀   😀\n😀");
add("dingbats", "✂✈✉✓✔✕✖✗✘ ★☆");
// <|endoftext|>
add("eot", EOT);
add("eot_text", "Hello" + EOT + "World");
add("eot_spaces", "end of doc. " + EOT + " Start of next");
add("eot_double", EOT + EOT);
add("eot_newlines", "a\n\n" + EOT + "\n\nb");
add("eot_trailing_spaces", "a   " + EOT + "   b");
add("eot_partial", "<|endoftext| <|endof <|endoftext|endoftext|> <|ENDOFTEXT|>");
add("eot_nested", "<|<|endoftext|>|>");
add("eot_in_word", "foo<|endoftext|>bar<|endoftext|>");
add("eot_other_special", "<|fim_prefix|> <|im_start|> <|endofprompt|>");
// long words
add("long_word", "a".repeat(200));
add("long_word2", "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis");
add("long_digits", "1234567890".repeat(20));
add("long_punct", "-".repeat(150) + "=".repeat(50));
add("long_mixed_word", "Supercalifragilisticexpialidocious".repeat(6));
add("long_cjk", "中".repeat(100));
add("long_spaces_then_word", " ".repeat(100) + "word");
add("long_newlines", "\n".repeat(60) + "x");
add("repeat_pairs", "abababababababababababab abcabcabcabcabcabc");
add("aaaa", "aaaa aaaaa aaaaaa aaaaaaa");
// pieces longer than 256 bytes take bpe.c's heap merge
add("long_piece_letters", "a".repeat(1000));
add("long_piece_word", "the".repeat(150) + " " + "ing".repeat(120));
add("long_piece_digits", "1234567890".repeat(50));
add("long_piece_spaces", " ".repeat(600) + "x " + " ".repeat(300));
add("long_piece_punct", "!?".repeat(300) + ".");
add("long_piece_cjk", "中文字".repeat(120));
add("long_piece_mixed_letters", "abcdéfghßijklmnöpqrstüvwxyz".repeat(15));
add("url_long", "https://www.example.com/" + "very/long/path/".repeat(10) + "?query=" + "x".repeat(40));
// nanoGPT-ish
add("prose_paragraph", "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.");
add("dialogue", "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?");
add("number_sentence", "In 2023, 45.6% of 1,234 respondents (n=1234) said \"yes\"; 12 said no.");
add("mixed_everything", "Mix: café 中文 😀 123 ١٢٣ 'll 'S\t\n  end");
// random soups of tricky pieces (seeded)
const alphabet = ["a", "Z", "é", "ß", "中", "😀", "1", "٣", "½", " ", "  ", "\n", "\t", "\r\n", "'", "'s", "'LL", "’",
    "!", "?", ".", ",", "-", "_", "\u00a0", "\u3000", "\u0301", "\u200d", "\u0000", "\u0085", "Ⅻ", "$", "<|endoftext|>",
    "the", " the", "ing", "\ufeff", "ǅ", "𝐀", "👍🏽", "\u2028", "x", "9"];
for (let k = 0; k < 70; k++) {
    let s = "";
    const n = 1 + Math.floor(rand() * 24);
    for (let i = 0; i < n; i++) s += pick(alphabet);
    add(`soup_${k}`, s);
}

// strings with invalid UTF-8 (bytes), tested against the reference encoder
const invalid = [];
const addBytes = (label, arr) => invalid.push([label, Uint8Array.from(arr)]);
const b = (s) => Array.from(te.encode(s));
addBytes("lone_ff", [0xff]);
addBytes("lone_continuation", [0x80]);
addBytes("word_ff_word", [...b("hello"), 0xff, ...b("world")]);
addBytes("word_space_ff", [...b("hello "), 0xff, 0xfe, ...b(" world")]);
addBytes("truncated_2", [...b("ab"), 0xc3]);
addBytes("truncated_3", [...b("ab "), 0xe4, 0xb8]);
addBytes("truncated_4", [0xf0, 0x9f, 0x98, ...b(" x")]);
addBytes("overlong_slash", [0xc0, 0xaf, ...b("etc")]);
addBytes("overlong_nul", [0xc0, 0x80]);
addBytes("overlong_3", [0xe0, 0x80, 0xaf]);
addBytes("surrogate_d800", [...b("a"), 0xed, 0xa0, 0x80, ...b("b")]);
addBytes("surrogate_pair_cesu", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);
addBytes("above_10ffff", [0xf4, 0x90, 0x80, 0x80]);
addBytes("f5_ff", [0xf5, 0xf8, 0xfc, 0xfe, 0xff]);
addBytes("latin1", [...b("caf"), 0xe9, ...b(" na"), 0xef, ...b("ve")]);
addBytes("invalid_in_digits", [...b("12"), 0x80, ...b("34")]);
addBytes("invalid_before_space_letter", [0xff, ...b(" abc")]);
addBytes("invalid_after_space", [...b("x "), 0xff, 0xff]);
addBytes("invalid_and_punct", [...b("!!"), 0xfe, ...b("??")]);
addBytes("invalid_and_whitespace", [...b("\n\n"), 0x80, ...b("  \n")]);
addBytes("invalid_apostrophe", [...b("'"), 0xff, ...b("s 's")]);
addBytes("invalid_then_valid_multibyte", [0xe4, ...b("中文"), 0xb8]);
addBytes("invalid_then_emoji", [0xf0, 0x9f, ...b("😀")]);
addBytes("invalid_eot", [0xff, ...b(EOT), 0xfe]);
addBytes("invalid_runs", Array.from({ length: 40 }, (_, i) => 0x80 + ((i * 37) % 128)));
addBytes("all_high_bytes", Array.from({ length: 128 }, (_, i) => 0x80 + i));
addBytes("all_bytes", Array.from({ length: 256 }, (_, i) => i));
for (let k = 0; k < 20; k++) {
    const arr = [];
    const n = 1 + Math.floor(rand() * 30);
    for (let i = 0; i < n; i++) {
        if (rand() < 0.3) arr.push(Math.floor(rand() * 256));
        else arr.push(...b(pick(alphabet)));
    }
    addBytes(`byte_soup_${k}`, arr);
}

// ---------------------------------------------------------------------------------------
// check the premises, then write
const fail = (msg) => { console.error("gen_bpe_fixtures: " + msg); process.exit(1); };
if (!same(ordinary("a\ud800b"), ordinary("a\ufffdb"))) fail("lone surrogate is not encoded as U+FFFD");
try { enc.encode_ordinary(new Uint8Array([0xff])); fail("tiktoken accepted a Uint8Array"); } catch { /* expected */ }

const cases = [];
for (const [label, s] of texts) {
    const bytes = te.encode(s);
    const o = ordinary(s), sp = special(s);
    if (!same(o, refOrdinary(bytes))) fail(`reference encoder disagrees with tiktoken (ordinary) on ${label}`);
    if (!same(sp, refSpecial(bytes))) fail(`reference encoder disagrees with tiktoken (special) on ${label}`);
    if (!same(Array.from(enc.decode(Uint32Array.from(o))), Array.from(bytes))) fail(`decode != text for ${label}`);
    cases.push({ label, hex: hex(bytes), ordinary: o, special: sp });
}
const invalidCases = [];
for (const [label, bytes] of invalid) {
    const fffd = units(bytes).map((u) => String.fromCodePoint(u[2])).join("");
    invalidCases.push({ label, hex: hex(bytes), ordinary: refOrdinary(bytes), special: refSpecial(bytes),
                        fffd: ordinary(fffd) });
}

const shPath = "data/shakespeare_char/input.txt";
const shText = fs.readFileSync(shPath, "utf8");
const shBytes = fs.readFileSync(shPath);
const shIds = ordinary(shText);
if (!same(shIds, refOrdinary(new Uint8Array(shBytes)))) fail("reference encoder disagrees with tiktoken on tinyshakespeare");
const cps = Array.from(shText);
const nTrainChars = Math.floor(cps.length * 0.9);   // Python: int(n * 0.9) on a float
const trainText = cps.slice(0, nTrainChars).join(""), valText = cps.slice(nTrainChars).join("");
const nTrain = ordinary(trainText).length, nVal = ordinary(valText).length;
if (shIds.some((x) => x > 65535)) fail("id > 65535");
const bin = Buffer.alloc(shIds.length * 2);
shIds.forEach((x, i) => bin.writeUInt16LE(x, i * 2));
fs.writeFileSync("tests/fixtures/bpe_shakespeare.bin", bin);

const out = {
    generator: "tools/gen_bpe_fixtures.mjs",
    tiktoken_version: tiktokenVersion,
    node: process.versions.node,
    unicode: process.versions.unicode,
    encoding: "gpt2",
    cases,
    invalid_utf8: invalidCases,
    shakespeare: {
        input: shPath, bytes: shBytes.length, chars: cps.length, n_tokens: shIds.length,
        ids_file: "tests/fixtures/bpe_shakespeare.bin",
        train_chars: nTrainChars, train_tokens: nTrain, val_tokens: nVal,
    },
};
// one case per line keeps the file diffable
let json = JSON.stringify({ ...out, cases: [], invalid_utf8: [] }, null, 1);
const lines = (arr) => arr.map((c) => "  " + JSON.stringify(c)).join(",\n");
json = json.replace('"cases": []', `"cases": [\n${lines(cases)}\n ]`)
           .replace('"invalid_utf8": []', `"invalid_utf8": [\n${lines(invalidCases)}\n ]`);
fs.writeFileSync("tests/fixtures/bpe_cases.json", json + "\n");
console.log(`tiktoken ${tiktokenVersion}: ${cases.length} cases, ${invalidCases.length} invalid-UTF-8 cases, ` +
            `tinyshakespeare ${shIds.length} tokens (train ${nTrain}, val ${nVal})`);
enc.free();
