/**
 * Peer cases: the inputs of vLLM's and SGLang's own tests for their Qwen3-Coder / MiMo tool parsers and Qwen3 /
 * MiMo reasoning parsers, as data, each with the public test it comes from (repository, file, test name), and what
 * MiMoOutputParser gives for it. Where our result differs from what the peer test asserts (the peers disagree with
 * each other, or with MiMo's chat template), `differs` says what the peer expects and why we do otherwise.
 * Run by peer-cases.test.ts: whole, one character at a time, every two-chunk split, and the peer's own chunks.
 *
 * Conventions of our results that the peers leave open (spec §5.2): whitespace right before a call, between calls
 * and after the last call is not content; text after a call is content with the whitespace before it; a value has
 * one leading and one trailing newline stripped; `content` is '' (never null).
 */
import type { PeerToolSet } from './peer-tools.js';

export interface PeerSource {
  repo: 'vllm-project/vllm' | 'sgl-project/sglang' | 'issue 13';
  file: string;
  test: string;
}

export interface PeerCase {
  name: string;
  sources: PeerSource[];
  tools: PeerToolSet;
  startsInThinking?: boolean;
  unknownTools?: 'text' | 'call';
  /** The peer test's own chunks, when it streams pre-cut pieces. */
  chunks?: string[];
  text: string;
  expect: {
    content: string;
    reasoning?: string;
    /** In order; `arguments` compared as JSON text, so key order counts. */
    calls: { name: string; arguments: Record<string, unknown> }[];
    finishedInThinking?: boolean;
  };
  /** Our result differs from the peer test's assertion: whose, what they expect, and why. */
  differs?: { from: 'vLLM' | 'SGLang' | 'vLLM and SGLang'; peerExpects: string; reason: string };
  /** Context that is not a disagreement (e.g. the peer asserts only a layer of its pipeline). */
  note?: string;
}

const V = 'vllm-project/vllm';
const S = 'sgl-project/sglang';
const VC = 'tests/tool_parsers/test_qwen3coder_tool_parser.py';
const VS = 'tests/tool_parsers/test_qwen3_xml_coder_shared.py';
const VM = 'tests/tool_parsers/test_mimov2_flash_tool_parser.py';
const VX = 'tests/tool_parsers/test_qwen3xml_tool_parser.py';
const VB = 'tests/tool_parsers/test_qwen36_bugs.py';
const VR = 'tests/reasoning/test_qwen3_reasoning_parser.py';
const SM = 'test/registered/unit/function_call/test_mimo_detector.py';
const SQ = 'test/registered/function_call/test_qwen3_coder_detector/test_cases.py';
const SF = 'test/srt/test_function_call_parser.py';
const SR = 'test/registered/unit/parser/test_reasoning_parser.py';
const ISSUE = 'issue 13';

const v = (file: string, test: string): PeerSource => ({ repo: V, file, test });
const s = (file: string, test: string): PeerSource => ({ repo: S, file, test });
const issue = (test: string): PeerSource => ({ repo: ISSUE, file: 'issue 13 text', test });

/** Why a peer's extra leniency is not followed. */
const NO_BARE_FUNCTION = 'MiMo\'s chat template always wraps a call in <tool_call>; a bare <function=…> is prose, and reading it would turn quoted examples into calls';
const NO_PYTHON_LITERALS = 'values are JSON (the template writes non-string arguments with tojson); Python-literal parsing (ast.literal_eval) is not followed, so quoted text never silently becomes an object';
const WHITESPACE_BEFORE_CALL = 'whitespace right before a call is template formatting, not content (spec §5.2), as vLLM returns it';

const DALLAS_PARAMS = '<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n';
const DALLAS = `<tool_call>\n<function=get_current_weather>\n${DALLAS_PARAMS}</function>\n</tool_call>`;
const DALLAS_ARGS = { city: 'Dallas', state: 'TX', unit: 'fahrenheit' };
const orlando = (unit: string): string =>
  `<tool_call>\n<function=get_current_weather>\n<parameter=city>\nOrlando\n</parameter>\n<parameter=state>\nFL\n</parameter>\n<parameter=unit>\n${unit}\n</parameter>\n</function>\n</tool_call>`;
const RECT_ARGS = { shape: 'rectangle', dimensions: { width: 10, height: 20 }, precision: 2 };
const rect = (afterComma: string): string =>
  `<tool_call>\n<function=calculate_area>\n<parameter=shape>\nrectangle\n</parameter>\n<parameter=dimensions>\n{"width": 10,${afterComma}\n "height": 20}\n</parameter>\n<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>`;
const CIRCLE = 'Let me calculate that area for you.<tool_call>\n<function=calculate_area>\n<parameter=shape>\ncircle\n</parameter>\n<parameter=dimensions>\n{"radius": 15.5}\n</parameter>\n<parameter=precision>\n3\n</parameter>\n</function>\n</tool_call>';
const MISSING_CLOSE = 'Let me check the weather for you:\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>';
const TYPES_TEXT = '<tool_call>\n<function=test_types>\n<parameter=int_param>\n42\n</parameter>\n<parameter=float_param>\n3.14\n</parameter>\n<parameter=bool_param>\ntrue\n</parameter>\n<parameter=str_param>\nhello world\n</parameter>\n<parameter=obj_param>\n{"key": "value"}\n</parameter>\n</function>\n</tool_call>';
const TYPES_ARGS = { int_param: 42, float_param: 3.14, bool_param: true, str_param: 'hello world', obj_param: { key: 'value' } };
const UPDATE_RECORD = '<tool_call>\n<function=update_record>\n<parameter=data>{"key": "value", "count": 42}</parameter>\n</function>\n</tool_call>';
const XML_TAGS_IN_CONTENT = 'char_deltas = [\n    "<tool_call>\\n",\n    "<parameter=query>\\n",\n    "\\n</parameter>\\n",\n    "</function>\\n",\n]\n';
const PARAM_LIKE_LINES = 'TOOL_CALL_TEMPLATE = """\n</parameter>\n<parameter=new_string>\n#!/usr/bin/env python3\n</parameter>\n"""\n';
const REAL_NAME_LITERAL = 'doc = """\n<parameter=path>\nliteral/value\n</parameter>\n"""\n';
const FULL_NESTED = 'doc = """\n<tool_call>\n<function=write_file>\n<parameter=path>\nliteral/value.txt\n</parameter>\n<parameter=content>\nhello\n</parameter>\n</function>\n</tool_call>\n"""\n';
const OUT_OF_SCHEMA_NESTED = 'template = """\n<tool_call>\n<function=foo>\n<parameter=bar>baz</parameter>\n</function>\n</tool_call>\n"""\n';
const FOO_CALL = '<tool_call>\n<function=foo>\n<parameter=bar>baz</parameter>\n</function>\n</tool_call>';
const TWO_WEATHER = '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nLondon\n</parameter>\n</function>\n</tool_call>';
const JINJA_PHANTOM = '<tool_call>\n<function={{ tc.name }}>\n<parameter={{ k }}>\n{{ v }}\n</parameter>\n</function>\n</tool_call>';
const BASH_BODY = '<tool_call>\n<function=bash>\n<parameter=command>\ncat /etc/hosts\n</parameter>\n</function>\n</tool_call>';
const writeFile = (path: string, content: string): string =>
  `<tool_call>\n<function=write_file>\n<parameter=path>\n${path}\n</parameter>\n<parameter=content>\n${content}</parameter>\n</function>\n</tool_call>`;
const mimo = (fn: string, params: string): string => `<tool_call><function=${fn}>${params}</function></tool_call>`;
const mimoNl = (fn: string, params: [string, string][]): string =>
  `<tool_call>\n<function=${fn}>\n${params.map(([k, val]) => `<parameter=${k}>${val}</parameter>\n`).join('')}</function>\n</tool_call>`;
const sglangCoderBare = (params: string): string => `<function=get_current_weather>\n${params}</function>`;

export const PEER_CASES: PeerCase[] = [
  // ---- vLLM Qwen3-Coder / Qwen3-XML tool parsers ----
  {
    name: 'no tool calls', tools: 'weatherArea', text: 'This is a test response without any tool calls',
    sources: [v(VC, 'test_extract_tool_calls_no_tools'), v(VS, 'test_extract_tool_calls_no_tools'), s(SF, 'TestQwen3CoderDetector.test_detect_and_parse_no_tools')],
    expect: { content: 'This is a test response without any tool calls', calls: [] },
  },
  {
    name: 'no tool calls (streaming case)', tools: 'weatherArea', text: 'This is a test without tools',
    sources: [v(VC, 'test_extract_tool_calls_streaming[no_tools]'), v(VS, 'test_extract_tool_calls_streaming[no_tools]')],
    expect: { content: 'This is a test without tools', calls: [] },
  },
  {
    name: 'single tool', tools: 'weatherArea', text: DALLAS,
    sources: [v(VC, 'test_extract_tool_calls[single_tool]'), v(VC, 'test_extract_tool_calls_streaming[single_tool]'), v(VS, 'test_extract_tool_calls[single_tool]'), s(SF, 'TestQwen3CoderDetector.test_detect_and_parse_single_tool')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }] },
  },
  {
    name: 'single tool with content', tools: 'weatherArea', text: `Sure! Let me check the weather for you.${DALLAS}`,
    sources: [v(VC, 'test_extract_tool_calls[single_tool_with_content]'), v(VC, 'test_extract_tool_calls_streaming[single_tool_with_content]'), v(VS, 'test_extract_tool_calls[single_tool_with_content]'), s(SF, 'TestQwen3CoderDetector.test_detect_and_parse_with_content')],
    expect: { content: 'Sure! Let me check the weather for you.', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }] },
  },
  {
    name: 'multiline object parameter (trailing space)', tools: 'weatherArea', text: rect(' '),
    sources: [v(VC, 'test_extract_tool_calls[single_tool_multiline_param]'), v(VC, 'test_extract_tool_calls_streaming[single_tool_multiline_param]')],
    expect: { content: '', calls: [{ name: 'calculate_area', arguments: RECT_ARGS }] },
  },
  {
    name: 'multiline object parameter', tools: 'weatherArea', text: rect(''),
    sources: [v(VS, 'test_extract_tool_calls[single_tool_multiline_param]'), s(SF, 'TestQwen3CoderDetector.test_detect_and_parse_multiline_param')],
    expect: { content: '', calls: [{ name: 'calculate_area', arguments: RECT_ARGS }] },
  },
  {
    name: 'parallel tools', tools: 'weatherArea', text: `${DALLAS}\n${orlando('fahrenheit')}`,
    sources: [v(VC, 'test_extract_tool_calls[parallel_tools]'), v(VS, 'test_extract_tool_calls[parallel_tools]')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }, { name: 'get_current_weather', arguments: { city: 'Orlando', state: 'FL', unit: 'fahrenheit' } }] },
    note: 'vLLM accepts "" or "\\n" for the content (its two parsers differ on the newline between the blocks)',
  },
  {
    name: 'parallel tools, newline between them as content', tools: 'weatherArea', text: `${DALLAS}\n${orlando('fahrenheit')}`,
    sources: [s(SF, 'TestQwen3CoderDetector.test_detect_and_parse_parallel_tools')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }, { name: 'get_current_weather', arguments: { city: 'Orlando', state: 'FL', unit: 'fahrenheit' } }] },
    differs: { from: 'SGLang', peerExpects: 'normal_text "\\n"', reason: 'whitespace between calls is template formatting, not content (vLLM\'s shared test accepts either)' },
  },
  {
    name: 'parallel tools (second in celsius)', tools: 'weatherArea', text: `${DALLAS}\n${orlando('celsius')}`,
    sources: [v(VC, 'test_extract_tool_calls_streaming[parallel_tools]')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }, { name: 'get_current_weather', arguments: { city: 'Orlando', state: 'FL', unit: 'celsius' } }] },
  },
  {
    name: 'typed parameters after content', tools: 'weatherArea', text: CIRCLE,
    sources: [v(VC, 'test_extract_tool_calls[tool_with_typed_params]'), v(VC, 'test_extract_tool_calls_streaming[tool_with_typed_params]'), v(VS, 'test_extract_tool_calls[tool_with_typed_params]')],
    expect: { content: 'Let me calculate that area for you.', calls: [{ name: 'calculate_area', arguments: { shape: 'circle', dimensions: { radius: 15.5 }, precision: 3 } }] },
  },
  {
    name: 'bare <function=…> without <tool_call>', tools: 'weatherArea',
    text: '<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>',
    sources: [v(VC, 'test_extract_tool_calls_fallback_no_tags'), v(VS, 'test_extract_tool_calls_fallback_no_tags')],
    expect: { content: '<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>', calls: [] },
    differs: { from: 'vLLM', peerExpects: 'one call get_current_weather', reason: NO_BARE_FUNCTION },
  },
  {
    name: 'bare <function=…> without <tool_call> (SGLang: only no crash)', tools: 'weatherArea',
    text: '<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>',
    sources: [s(SF, 'TestQwen3CoderDetector.test_extract_tool_calls_fallback_no_tags')],
    expect: { content: '<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>', calls: [] },
  },
  {
    name: 'type conversion by schema (integer, "float", boolean, string, object)', tools: 'types', text: TYPES_TEXT,
    sources: [v(VC, 'test_extract_tool_calls_type_conversion'), v(VS, 'test_extract_tool_calls_type_conversion'), s(SF, 'TestQwen3CoderDetector.test_extract_tool_calls_type_conversion')],
    expect: { content: '', calls: [{ name: 'test_types', arguments: TYPES_ARGS }] },
  },
  {
    name: 'anyOf / type-list nullable schemas', tools: 'anyOf',
    text: '<tool_call>\n<function=test_anyof>\n<parameter=anyof_int>\n5\n</parameter>\n<parameter=anyof_str>\nhello\n</parameter>\n<parameter=anyof_array>\n["a", "b", "c"]\n</parameter>\n<parameter=anyof_obj>\n{"key": "value"}\n</parameter>\n<parameter=type_as_array>\n42\n</parameter>\n<parameter=multi_non_null>\nsome text\n</parameter>\n</function>\n</tool_call>',
    sources: [v(VC, 'test_extract_tool_calls_anyof_type_conversion')],
    expect: { content: '', calls: [{ name: 'test_anyof', arguments: { anyof_int: 5, anyof_str: 'hello', anyof_array: ['a', 'b', 'c'], anyof_obj: { key: 'value' }, type_as_array: 42, multi_non_null: 'some text' } }] },
  },
  {
    name: 'anyOf nullable schemas, streamed', tools: 'searchWeb',
    text: '<tool_call>\n<function=search_web>\n<parameter=query>\nvllm tool parser\n</parameter>\n<parameter=count>\n10\n</parameter>\n<parameter=verbose>\ntrue\n</parameter>\n</function>\n</tool_call>',
    sources: [v(VC, 'test_extract_tool_calls_anyof_type_conversion_streaming')],
    expect: { content: '', calls: [{ name: 'search_web', arguments: { query: 'vllm tool parser', count: 10, verbose: true } }] },
  },
  {
    name: 'missing </parameter>: the value ends at the next parameter of the tool', tools: 'weatherArea', text: MISSING_CLOSE,
    sources: [v(VC, 'test_extract_tool_calls_missing_closing_parameter_tag'), v(VC, 'test_extract_tool_calls_streaming_missing_closing_tag'), v(VS, 'test_extract_tool_calls_missing_closing_parameter_tag'), v(VS, 'test_extract_tool_calls_streaming_missing_closing_tag')],
    expect: { content: 'Let me check the weather for you:', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }] },
  },
  {
    name: 'content then a call, streamed', tools: 'weatherArea',
    text: 'I\'ll check the weather.<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>',
    sources: [v(VC, 'test_extract_tool_calls_streaming_incremental'), v(VS, 'test_extract_tool_calls_streaming_incremental')],
    expect: { content: 'I\'ll check the weather.', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas', state: 'TX' } }] },
  },
  {
    name: 'missing <tool_call> before <function=…>', tools: 'weatherArea',
    text: `I'll check the weather for you.\n\n<function=get_current_weather>\n${DALLAS_PARAMS}</function>\n</tool_call>`,
    sources: [v(VC, 'test_extract_tool_calls_streaming_missing_opening_tag')],
    expect: { content: `I'll check the weather for you.\n\n<function=get_current_weather>\n${DALLAS_PARAMS}</function>\n</tool_call>`, calls: [] },
    differs: { from: 'vLLM', peerExpects: 'one call get_current_weather (its qwen3_engine parser)', reason: NO_BARE_FUNCTION },
  },
  {
    name: 'function name without ">" is no call', tools: 'weatherArea',
    text: '<tool_call>\n<function=get_current_weather\n<parameter=city>Dallas</parameter>\n</function>\n</tool_call>',
    sources: [v(VC, 'test_malformed_xml_no_gt_delimiter'), v(VS, 'test_malformed_xml_no_gt_delimiter')],
    expect: { content: '<tool_call>\n<function=get_current_weather\n<parameter=city>Dallas</parameter>\n</function>\n</tool_call>', calls: [] },
    note: 'vLLM asserts only that nothing crashes and no None call comes back',
  },
  {
    name: 'a malformed call, then a good one', tools: 'weatherArea',
    text: '<tool_call>\n<function=bad_func_no_gt\n</function>\n</tool_call>\n<tool_call>\n<function=get_current_weather>\n<parameter=city>Dallas</parameter>\n<parameter=state>TX</parameter>\n</function>\n</tool_call>',
    sources: [v(VC, 'test_none_tool_calls_filtered'), v(VS, 'test_none_tool_calls_filtered')],
    expect: { content: '<tool_call>\n<function=bad_func_no_gt\n</function>\n</tool_call>', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas', state: 'TX' } }] },
  },
  {
    name: 'anyOf object parameter is not double-encoded', tools: 'updateRecord', text: UPDATE_RECORD,
    chunks: ['<tool_call>', '\n<function=update_record>', '\n<parameter=data>{"key": "value", "count": 42}</parameter>', '\n</function>', '\n</tool_call>'],
    sources: [v(VC, 'test_anyof_parameter_not_double_encoded'), v(VS, 'test_anyof_object_param_not_double_encoded_nonstreaming'), v(VS, 'test_anyof_object_param_not_double_encoded_streaming')],
    expect: { content: '', calls: [{ name: 'update_record', arguments: { data: { key: 'value', count: 42 } } }] },
  },
  {
    name: 'several parameters in one delta', tools: 'weatherArea', text: DALLAS,
    chunks: ['<tool_call>', '\n<function=get_current_weather>', '\n', '<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>', '\n</function>', '\n</tool_call>'],
    sources: [v(VC, 'test_streaming_multi_param_single_chunk'), v(VS, 'test_streaming_multi_param_single_chunk')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: DALLAS_ARGS }] },
  },
  {
    name: 'string argument is not double-serialized', tools: 'greet',
    text: '<tool_call>\n<function=greet>\n<parameter=message>hello world</parameter>\n</function>\n</tool_call>',
    sources: [v(VC, 'test_no_double_serialization_string_args'), v(VS, 'test_no_double_serialization_string_args')],
    expect: { content: '', calls: [{ name: 'greet', arguments: { message: 'hello world' } }] },
  },
  {
    name: 'Python-literal object', tools: 'types',
    text: '<tool_call>\n<function=test_types>\n<parameter=obj_param>\n{\'key\': \'value\'}\n</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_extract_tool_calls_complex_type_with_single_quote')],
    expect: { content: '', calls: [{ name: 'test_types', arguments: { obj_param: '{\'key\': \'value\'}' } }] },
    differs: { from: 'vLLM and SGLang', peerExpects: 'obj_param {"key": "value"}', reason: NO_PYTHON_LITERALS },
  },
  {
    name: 'parameters and the end in one delta (a tool not offered, read as vLLM does)', tools: 'weatherArea', unknownTools: 'call',
    text: '<tool_call>\n<function=test>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>',
    chunks: ['<tool_call>\n<function=test>\n', '<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>'],
    sources: [v(VS, 'test_extract_tool_calls_streaming_speculative_decode_loss')],
    expect: { content: '', calls: [{ name: 'test', arguments: { city: 'Paris' } }] },
  },
  {
    name: 'a string parameter\'s "null" stays a string', tools: 'search',
    text: '<tool_call>\n<function=search>\n<parameter=query>null</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_string_null_value_preserved')],
    expect: { content: '', calls: [{ name: 'search', arguments: { query: 'null' } }] },
  },
  {
    name: 'anyOf[string, null] keeps a number-like value a string', tools: 'setCode',
    text: '<tool_call>\n<function=set_code>\n<parameter=code>42</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_anyof_string_null_keeps_value_as_string')],
    expect: { content: '', calls: [{ name: 'set_code', arguments: { code: '42' } }] },
  },
  {
    name: 'anyOf[integer, null] gives an integer', tools: 'setCount',
    text: '<tool_call>\n<function=set_count>\n<parameter=count>42</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_anyof_integer_null_parses_as_int')],
    expect: { content: '', calls: [{ name: 'set_count', arguments: { count: 42 } }] },
  },
  {
    name: 'JSON-encoded Python repr of an object', tools: 'process',
    text: '<tool_call>\n<function=process>\n<parameter=name>\nhello\n</parameter>\n<parameter=data>\n"{\'key\': \'value\', \'n\': 1}"\n</parameter>\n</function>\n</tool_call>\n',
    sources: [v(VS, 'test_double_encoded_object_param_nonstreaming'), v(VS, 'test_double_encoded_object_param_streaming')],
    expect: { content: '', calls: [{ name: 'process', arguments: { name: 'hello', data: '"{\'key\': \'value\', \'n\': 1}"' } }] },
    differs: { from: 'vLLM', peerExpects: 'data {"key": "value", "n": 1}', reason: `a template bug of another model family (json.dumps(str(dict))); ${NO_PYTHON_LITERALS}` },
  },
  {
    name: 'a file whose content holds <tool_call>, <parameter=query>, </parameter>, </function>', tools: 'writeFile',
    text: `${writeFile('test.py', XML_TAGS_IN_CONTENT)}\n`,
    chunks: ['<tool_call>\n', '<function=write_file>\n', '<parameter=path>\ntest.py\n</parameter>\n', `<parameter=content>\n${XML_TAGS_IN_CONTENT}</parameter>\n`, '</function>\n', '</tool_call>\n'],
    sources: [v(VS, 'test_content_with_xml_structural_tags_nonstreaming'), v(VS, 'test_content_with_xml_structural_tags_streaming')],
    expect: { content: '', calls: [{ name: 'write_file', arguments: { path: 'test.py', content: XML_TAGS_IN_CONTENT.slice(0, -1) } }] },
  },
  {
    name: 'a file with </parameter> and <parameter=NAME> lines (NAME not a parameter)', tools: 'writeFile',
    text: `${writeFile('test_template.py', PARAM_LIKE_LINES)}\n`,
    chunks: ['<tool_call>\n', '<function=write_file>\n', '<parameter=path>\ntest_template.py\n</parameter>\n', '<parameter=content>\nTOOL_CALL_TEMPLATE = """\n', '</parameter>\n', '<parameter=new_string>\n', '#!/usr/bin/env python3\n', '</parameter>\n', '"""\n', '</parameter>\n', '</function>\n', '</tool_call>\n'],
    sources: [v(VS, 'test_content_with_param_like_lines_nonstreaming'), v(VS, 'test_content_with_param_like_lines_streaming')],
    expect: { content: '', calls: [{ name: 'write_file', arguments: { path: 'test_template.py', content: PARAM_LIKE_LINES.slice(0, -1) } }] },
  },
  {
    name: 'an array holding JSON true', tools: 'pick',
    text: '<tool_call>\n<function=pick>\n<parameter=items>\n["a", "b", 1, true]\n</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_array_with_json_bool'), v(VB, 'test_xml_array_with_json_bool_nonstreaming'), v(VB, 'test_coder_array_with_json_bool_nonstreaming')],
    expect: { content: '', calls: [{ name: 'pick', arguments: { items: ['a', 'b', 1, true] } }] },
  },
  {
    name: 'two whole calls in one delta', tools: 'weatherCity', text: TWO_WEATHER, chunks: [TWO_WEATHER],
    sources: [v(VS, 'test_two_tool_calls_in_one_streaming_chunk'), v(VB, 'test_coder_two_tool_calls_in_one_streaming_chunk'), v(VB, 'test_xml_two_tool_calls_in_one_streaming_chunk')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_weather', arguments: { city: 'London' } }] },
  },
  {
    name: 'Python None for a nullable integer', tools: 'setCount',
    text: '<tool_call>\n<function=set_count>\n<parameter=count>None</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_python_none_value_for_nullable_int')],
    expect: { content: '', calls: [{ name: 'set_count', arguments: { count: null } }] },
  },
  {
    name: 'two calls and trailing text in one delta', tools: 'weatherCity', text: `${TWO_WEATHER}\nAll done!`, chunks: [`${TWO_WEATHER}\nAll done!`],
    sources: [v(VS, 'test_streaming_two_tool_calls_plus_trailing_text_one_delta')],
    expect: { content: '\nAll done!', calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_weather', arguments: { city: 'London' } }] },
  },
  {
    name: '</tool_call> and trailing text in one delta', tools: 'weatherCity',
    text: '<tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n</function>\n</tool_call>\nI hope this helps!',
    chunks: ['<tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n</function>', '\n</tool_call>\nI hope this helps!'],
    sources: [v(VS, 'test_streaming_trailing_text_with_final_close_in_same_delta')],
    expect: { content: '\nI hope this helps!', calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
  },
  {
    name: 'a file holding <parameter=path>…</parameter> (path already written)', tools: 'writeFile',
    text: writeFile('fixture.py', REAL_NAME_LITERAL),
    chunks: ['<tool_call>\n', '<function=write_file>\n', '<parameter=path>\nfixture.py\n</parameter>\n', '<parameter=content>\ndoc = """\n', '<parameter=path>\n', 'literal/value\n', '</parameter>\n', '"""\n', '</parameter>\n', '</function>\n', '</tool_call>'],
    sources: [v(VS, 'test_content_with_real_param_name_literal_nonstreaming'), v(VS, 'test_content_with_real_param_name_literal_streaming')],
    expect: { content: '', calls: [{ name: 'write_file', arguments: { path: 'fixture.py', content: REAL_NAME_LITERAL.slice(0, -1) } }] },
  },
  {
    name: 'a file holding a whole <tool_call>…</tool_call>', tools: 'writeFile',
    text: writeFile('fixture.py', FULL_NESTED),
    chunks: ['<tool_call>\n', '<function=write_file>\n', '<parameter=path>\nfixture.py\n</parameter>\n', '<parameter=content>\ndoc = """\n', '<tool_call>\n', '<function=write_file>\n', '<parameter=path>\n', 'literal/value.txt\n', '</parameter>\n', '<parameter=content>\n', 'hello\n', '</parameter>\n', '</function>\n', '</tool_call>\n', '"""\n', '</parameter>\n', '</function>\n', '</tool_call>'],
    sources: [v(VS, 'test_content_with_full_nested_tool_call_nonstreaming'), v(VS, 'test_content_with_full_nested_tool_call_streaming')],
    expect: { content: '', calls: [{ name: 'write_file', arguments: { path: 'fixture.py', content: FULL_NESTED.slice(0, -1) } }] },
  },
  {
    name: 'a call of a tool not offered, then a file holding a call with other names (read as vLLM does)', tools: 'writeFile', unknownTools: 'call',
    text: `${FOO_CALL}\n\n${writeFile('fixture.py', OUT_OF_SCHEMA_NESTED)}`,
    chunks: ['<tool_call>\n<function=foo>\n', '<parameter=bar>baz</parameter>\n', '</function>\n</tool_call>', '\n\n', '<tool_call>\n<function=write_file>\n', '<parameter=path>\nfixture.py\n</parameter>\n', '<parameter=content>\ntemplate = """\n', '<tool_call>\n<function=foo>\n', '<parameter=bar>baz</parameter>\n', '</function>\n</tool_call>\n', '"""\n', '</parameter>\n', '</function>\n', '</tool_call>'],
    sources: [v(VS, 'test_two_tools_second_with_out_of_schema_nested_literal_nonstreaming'), v(VS, 'test_two_tools_second_with_out_of_schema_nested_literal_streaming')],
    expect: { content: '', calls: [{ name: 'foo', arguments: { bar: 'baz' } }, { name: 'write_file', arguments: { path: 'fixture.py', content: OUT_OF_SCHEMA_NESTED.slice(0, -1) } }] },
  },
  {
    name: 'a call of a tool not offered, then a file holding a call with other names (default)', tools: 'writeFile',
    text: `${FOO_CALL}\n\n${writeFile('fixture.py', OUT_OF_SCHEMA_NESTED)}`,
    sources: [v(VS, 'test_two_tools_second_with_out_of_schema_nested_literal_nonstreaming')],
    expect: { content: FOO_CALL, calls: [{ name: 'write_file', arguments: { path: 'fixture.py', content: OUT_OF_SCHEMA_NESTED.slice(0, -1) } }] },
    differs: { from: 'vLLM', peerExpects: 'two calls, foo {"bar": "baz"} first', reason: 'foo is not an offered tool; by default such a call is text (as SGLang drops it, test_unknown_tool_filtered); unknownTools: "call" reads it as vLLM does (case above)' },
  },
  {
    name: 'echoed template text as a call', tools: 'writeFile',
    text: `${JINJA_PHANTOM}\n\n<tool_call>\n<function=write_file>\n<parameter=path>\nout.txt\n</parameter>\n<parameter=content>\nhello\n</parameter>\n</function>\n</tool_call>`,
    sources: [v(VS, 'test_jinja_template_phantom_tool_call_is_rejected_nonstreaming')],
    expect: { content: JINJA_PHANTOM, calls: [{ name: 'write_file', arguments: { path: 'out.txt', content: 'hello' } }] },
  },
  {
    name: 'echoed template text as a call, no tools offered', tools: 'none',
    text: `${JINJA_PHANTOM}\n\n<tool_call>\n<function=write_file>\n<parameter=path>\nout.txt\n</parameter>\n<parameter=content>\nhello\n</parameter>\n</function>\n</tool_call>`,
    sources: [v(VS, 'test_jinja_template_phantom_tool_call_is_rejected_nonstreaming')],
    expect: { content: JINJA_PHANTOM, calls: [{ name: 'write_file', arguments: { path: 'out.txt', content: 'hello' } }] },
    note: 'the same input without tools: the name {{ tc.name }} is rejected by itself (not a plausible identifier), and no half call is streamed',
  },
  {
    name: 'an inline <tool_call>example</tool_call> in prose', tools: 'log',
    text: 'I\'ll show: <tool_call>example</tool_call>. Now real:\n<tool_call>\n<function=log>\n<parameter=msg>\nhi\n</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_inline_empty_tool_call_preserves_content_before_real_call')],
    expect: { content: 'I\'ll show: <tool_call>example</tool_call>. Now real:', calls: [{ name: 'log', arguments: { msg: 'hi' } }] },
  },
  {
    name: 'anyOf[string, null] with "null" gives null', tools: 'setValue',
    text: '<tool_call>\n<function=set_value>\n<parameter=optional>null</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_anyof_string_null_with_null_literal_returns_none')],
    expect: { content: '', calls: [{ name: 'set_value', arguments: { optional: null } }] },
  },
  {
    name: 'anyOf[string, null] with "None"', tools: 'setValue',
    text: '<tool_call>\n<function=set_value>\n<parameter=optional>None</parameter>\n</function>\n</tool_call>',
    sources: [v(VS, 'test_anyof_string_null_with_null_literal_returns_none')],
    expect: { content: '', calls: [{ name: 'set_value', arguments: { optional: 'None' } }] },
    differs: { from: 'vLLM', peerExpects: 'optional null', reason: 'MiMo\'s template writes null as null (tojson), never Python\'s None; where a string is allowed, "None" may be meant (a name, a word), so it stays the string; for non-string nullable types None is read as null' },
  },
  // ---- vLLM qwen3_xml common tests (ToolParserTests config; no tools offered) ----
  {
    name: 'xml: no tool calls', tools: 'none', text: 'This is a regular response without any tool calls.',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_no_tool_calls')],
    expect: { content: 'This is a regular response without any tool calls.', calls: [] },
  },
  {
    name: 'xml: single call', tools: 'none', text: '<tool_call>\n<function=get_weather>\n<parameter=city>Tokyo</parameter>\n</function>\n</tool_call>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_single_tool_call_simple_args')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Tokyo' } }] },
  },
  {
    name: 'xml: parallel calls with nothing between', tools: 'none',
    text: '<tool_call>\n<function=get_weather>\n<parameter=city>Tokyo</parameter>\n</function>\n</tool_call><tool_call>\n<function=get_time>\n<parameter=timezone>Asia/Tokyo</parameter>\n</function>\n</tool_call>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_parallel_tool_calls')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Tokyo' } }, { name: 'get_time', arguments: { timezone: 'Asia/Tokyo' } }] },
  },
  {
    name: 'xml: various data types, no schema (strings)', tools: 'none',
    text: '<tool_call>\n<function=test_function>\n<parameter=string_field>hello</parameter>\n<parameter=int_field>42</parameter>\n<parameter=float_field>3.14</parameter>\n<parameter=bool_field>true</parameter>\n<parameter=null_field>null</parameter>\n<parameter=array_field>["a", "b", "c"]</parameter>\n<parameter=object_field>{"nested": "value"}</parameter>\n</function>\n</tool_call>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_various_data_types')],
    expect: { content: '', calls: [{ name: 'test_function', arguments: { string_field: 'hello', int_field: '42', float_field: '3.14', bool_field: 'true', null_field: 'null', array_field: '["a", "b", "c"]', object_field: '{"nested": "value"}' } }] },
    note: 'the config sets supports_typed_arguments=False: without a schema values stay strings',
  },
  {
    name: 'xml: empty arguments', tools: 'none', text: '<tool_call>\n<function=refresh>\n</function>\n</tool_call>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_empty_arguments')],
    expect: { content: '', calls: [{ name: 'refresh', arguments: {} }] },
  },
  {
    name: 'xml: text before and after a call', tools: 'none',
    text: 'Let me check the weather for you.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>Tokyo</parameter>\n</function>\n</tool_call>\n\nI will get that information.',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_surrounding_text')],
    expect: { content: 'Let me check the weather for you.\n\nI will get that information.', calls: [{ name: 'get_weather', arguments: { city: 'Tokyo' } }] },
  },
  {
    name: 'xml: quotes, backslashes and newlines in values', tools: 'none',
    text: '<tool_call>\n<function=test_function>\n<parameter=quoted>He said "hello"</parameter>\n<parameter=path>C:\\Users\\file.txt</parameter>\n<parameter=newline>line1\nline2</parameter>\n</function>\n</tool_call>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_escaped_strings')],
    expect: { content: '', calls: [{ name: 'test_function', arguments: { quoted: 'He said "hello"', path: 'C:\\Users\\file.txt', newline: 'line1\nline2' } }] },
  },
  {
    name: 'xml: malformed, cut after the function name', tools: 'none', text: '<tool_call><function=func>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_malformed_input')],
    expect: { content: '<tool_call><function=func>', calls: [] },
  },
  {
    name: 'xml: malformed, empty function name', tools: 'none', text: '<tool_call><function=></function></tool_call>',
    sources: [v(VX, 'TestQwen3xmlToolParser.test_malformed_input')],
    expect: { content: '<tool_call><function=></function></tool_call>', calls: [] },
  },
  {
    name: 'xml: text that is no number stays a string for integer- and number-like types', tools: 'vllmNumberTypes',
    text: `<tool_call>\n<function=convert>\n${['int', 'integer', 'uint', 'long', 'short', 'unsigned'].map((t) => `<parameter=p_${t}>not_a_number</parameter>\n`).join('')}<parameter=p_num>not_a_float</parameter>\n<parameter=p_float>not_a_float</parameter>\n</function>\n</tool_call>`,
    sources: [v(VX, 'test_convert_param_value_invalid_emits_warning')],
    expect: { content: '', calls: [{ name: 'convert', arguments: { p_int: 'not_a_number', p_integer: 'not_a_number', p_uint: 'not_a_number', p_long: 'not_a_number', p_short: 'not_a_number', p_unsigned: 'not_a_number', p_num: 'not_a_float', p_float: 'not_a_float' } }] },
  },
  // ---- vLLM MiMo-V2-Flash tool parser (no tools offered) ----
  {
    name: 'mimo: basic call after text', tools: 'none',
    text: 'Here is the result:\n<tool_call>\n<function=execute_bash>\n<parameter=command>pwd && ls</parameter>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_extract_basic_tool_call')],
    expect: { content: 'Here is the result:', calls: [{ name: 'execute_bash', arguments: { command: 'pwd && ls' } }] },
  },
  {
    name: 'mimo: second block with <parameter> before <function>', tools: 'none',
    text: 'Here is the result:\n<tool_call>\n<function=execute_bash>\n<parameter=command>pwd</parameter>\n</function>\n</tool_call>\n<tool_call>\n<parameter=command>ls -la</parameter>\n<function=list_files>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_extract_multiple_tool_calls')],
    expect: { content: 'Here is the result:\n<tool_call>\n<parameter=command>ls -la</parameter>\n<function=list_files>\n</function>\n</tool_call>', calls: [{ name: 'execute_bash', arguments: { command: 'pwd' } }] },
    differs: { from: 'vLLM', peerExpects: 'two calls, execute_bash and list_files', reason: 'MiMo\'s template writes <function=NAME> first in a block; a block that does not is not read as a call (its parameters could not be told from text)' },
  },
  {
    name: 'mimo: several parameters', tools: 'none',
    text: '<tool_call>\n<function=execute_code>\n<parameter=language>python</parameter>\n<parameter=code>print("hello")</parameter>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_extract_tool_call_with_multiple_parameters')],
    expect: { content: '', calls: [{ name: 'execute_code', arguments: { language: 'python', code: 'print("hello")' } }] },
  },
  {
    name: 'mimo: no tool calls', tools: 'none', text: 'This is just regular text without any tool calls.',
    sources: [v(VM, 'test_extract_no_tool_calls')],
    expect: { content: 'This is just regular text without any tool calls.', calls: [] },
  },
  {
    name: 'mimo: content before the call', tools: 'none',
    text: 'Let me execute that command for you.\n<tool_call>\n<function=execute_bash>\n<parameter=command>echo hello</parameter>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_extract_content_before_tool_call')],
    expect: { content: 'Let me execute that command for you.', calls: [{ name: 'execute_bash', arguments: { command: 'echo hello' } }] },
  },
  {
    name: 'mimo: no parameters', tools: 'none', text: '<tool_call>\n<function=noop>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_extract_tool_call_empty_arguments')],
    expect: { content: '', calls: [{ name: 'noop', arguments: {} }] },
  },
  {
    name: 'mimo: multiline value kept exactly', tools: 'none',
    text: '<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>value_1</parameter>\n<parameter=example_parameter_2>This is the value for the second parameter\nthat can span\nmultiple lines</parameter>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_extract_tool_call_multiline_parameter')],
    expect: { content: '', calls: [{ name: 'example_function_name', arguments: { example_parameter_1: 'value_1', example_parameter_2: 'This is the value for the second parameter\nthat can span\nmultiple lines' } }] },
  },
  {
    name: 'mimo: streaming, text then call in one delta', tools: 'none',
    text: 'Hello <tool_call>\n<function=execute_bash>\n<parameter=command>ls</parameter>\n</function>\n</tool_call>',
    sources: [v(VM, 'test_streaming_basic'), v(VM, 'test_streaming_tool_with_args')],
    expect: { content: 'Hello', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }] },
  },
  {
    name: 'mimo: streaming, output ends after </function>', tools: 'none',
    text: 'Say hello <tool_call>\n<function=greet>\n</function>', chunks: ['Say hello ', '<tool_call>\n<function=greet>\n</function>'],
    sources: [v(VM, 'test_streaming_content_and_tool_name')],
    expect: { content: 'Say hello', calls: [{ name: 'greet', arguments: {} }] },
  },
  {
    name: 'mimo: streaming in stages', tools: 'none',
    text: '<tool_call>\n<function=test>\n<parameter=arg1>value1</parameter>\n</function>\n</tool_call>',
    chunks: ['<tool_call>\n<function=test>', '\n<parameter=arg1>', 'value1', '</parameter>\n</function>\n</tool_call>'],
    sources: [v(VM, 'test_streaming_incremental')],
    expect: { content: '', calls: [{ name: 'test', arguments: { arg1: 'value1' } }] },
  },
  {
    name: 'mimo: streaming, no tool calls', tools: 'none', text: 'This is just regular text.', chunks: ['This is just', ' regular text.'],
    sources: [v(VM, 'test_streaming_no_tool_calls')],
    expect: { content: 'This is just regular text.', calls: [] },
  },
  // ---- vLLM Qwen3 reasoning parser (the prompt opened <think> unless said otherwise) ----
  {
    name: 'reasoning: </think> only', tools: 'none', startsInThinking: true, text: 'This is a reasoning section</think>This is the rest',
    sources: [v(VR, 'test_reasoning[without_start_token]'), v(VR, 'test_reasoning[without_start_token_stream]')],
    expect: { content: 'This is the rest', reasoning: 'This is a reasoning section', calls: [] },
  },
  {
    name: 'reasoning: </think> only, nothing after', tools: 'none', startsInThinking: true, text: 'This is a reasoning section</think>',
    sources: [v(VR, 'test_reasoning[without_start_token_complete_reasoning]'), v(VR, 'test_reasoning[without_start_token_complete_reasoning_stream]')],
    expect: { content: '', reasoning: 'This is a reasoning section', calls: [] },
  },
  {
    name: 'reasoning: <think> also in the output', tools: 'none', startsInThinking: true, text: '<think>This is a reasoning section</think>This is the rest',
    sources: [v(VR, 'test_reasoning[with_think]'), v(VR, 'test_reasoning[with_think_stream]')],
    expect: { content: 'This is the rest', reasoning: 'This is a reasoning section', calls: [] },
  },
  {
    name: 'reasoning: no think tags at all (cut off while thinking)', tools: 'none', startsInThinking: true, text: 'This is the rest',
    sources: [v(VR, 'test_reasoning[without_think]'), v(VR, 'test_reasoning[without_think_stream]')],
    expect: { content: '', reasoning: 'This is the rest', calls: [], finishedInThinking: true },
  },
  {
    name: 'reasoning: <think>…</think> and nothing after', tools: 'none', startsInThinking: true, text: '<think>This is a reasoning section</think>',
    sources: [v(VR, 'test_reasoning[complete_reasoning]'), v(VR, 'test_reasoning[complete_reasoning_stream]')],
    expect: { content: '', reasoning: 'This is a reasoning section', calls: [] },
  },
  {
    name: 'reasoning: multiline', tools: 'none', startsInThinking: true, text: '<think>This is a reasoning\nsection</think>This is the rest\nThat',
    sources: [v(VR, 'test_reasoning[multiline_reasoning]'), v(VR, 'test_reasoning[multiline_reasoning_stream]')],
    expect: { content: 'This is the rest\nThat', reasoning: 'This is a reasoning\nsection', calls: [] },
  },
  {
    name: 'reasoning: <think> and cut off', tools: 'none', startsInThinking: true, text: '<think>This is a reasoning section',
    sources: [v(VR, 'test_reasoning[only_open_tag]'), v(VR, 'test_reasoning[only_open_tag_stream]')],
    expect: { content: '', reasoning: 'This is a reasoning section', calls: [], finishedInThinking: true },
  },
  {
    name: 'reasoning: cut off without <think>', tools: 'none', startsInThinking: true, text: 'This is a reasoning section',
    sources: [v(VR, 'test_reasoning[truncated_no_start_token]'), v(VR, 'test_reasoning[truncated_no_start_token_stream]')],
    expect: { content: '', reasoning: 'This is a reasoning section', calls: [], finishedInThinking: true },
  },
  {
    name: 'reasoning: a call without </think>', tools: 'bash', startsInThinking: true, text: `I need to read the file.\n\n${BASH_BODY}`,
    sources: [v(VR, 'test_reasoning[tool_call_no_think_end]'), v(VR, 'test_reasoning[tool_call_no_think_end_stream]')],
    expect: { content: '', reasoning: 'I need to read the file.\n\n', calls: [{ name: 'bash', arguments: { command: 'cat /etc/hosts' } }], finishedInThinking: true },
    differs: { from: 'vLLM', peerExpects: 'reasoning ended by <tool_call>; content = the <tool_call> block (for its tool parser)', reason: 'the same call comes back; we read calls inside open reasoning (toolCallsInThinking) and report that </think> never came (finishedInThinking) instead of ending the reasoning at <tool_call>' },
  },
  {
    name: 'reasoning: <think>, then a call without </think>', tools: 'bash', startsInThinking: true, text: `<think>I need to read the file.\n\n${BASH_BODY}`,
    sources: [v(VR, 'test_reasoning[tool_call_with_think_no_end]'), v(VR, 'test_reasoning[tool_call_with_think_no_end_stream]')],
    expect: { content: '', reasoning: 'I need to read the file.\n\n', calls: [{ name: 'bash', arguments: { command: 'cat /etc/hosts' } }], finishedInThinking: true },
    differs: { from: 'vLLM', peerExpects: 'reasoning ended by <tool_call>; content = the <tool_call> block', reason: 'the same call comes back; we read calls inside open reasoning and report that </think> never came (finishedInThinking), instead of ending the reasoning at <tool_call>' },
  },
  {
    name: 'reasoning deltas: <think> with text', tools: 'none', startsInThinking: true, text: '<think>This is a reasoning section</think>This is the rest',
    chunks: ['<think>This is a reasoning section', '</think>', 'This is the rest'],
    sources: [v(VR, 'test_reasoning_streaming_multi_token_deltas[start_token_grouped_with_text]')],
    expect: { content: 'This is the rest', reasoning: 'This is a reasoning section', calls: [] },
  },
  {
    name: 'reasoning deltas: </think> with content', tools: 'none', startsInThinking: true, text: 'reasoning section</think>This is the rest',
    chunks: ['reasoning section', '</think>This is the rest'],
    sources: [v(VR, 'test_reasoning_streaming_multi_token_deltas[end_token_grouped_with_content]')],
    expect: { content: 'This is the rest', reasoning: 'reasoning section', calls: [] },
  },
  {
    name: 'reasoning deltas: <think> and </think> in one delta', tools: 'none', startsInThinking: true, text: '<think>reasoning</think>', chunks: ['<think>reasoning</think>'],
    sources: [v(VR, 'test_reasoning_streaming_multi_token_deltas[start_and_end_in_one_delta_no_content]')],
    expect: { content: '', reasoning: 'reasoning', calls: [] },
  },
  {
    name: 'reasoning deltas: no <think>, </think> with content', tools: 'none', startsInThinking: true, text: 'reasoning section</think>content',
    chunks: ['reasoning section', '</think>content'],
    sources: [v(VR, 'test_reasoning_streaming_multi_token_deltas[no_start_end_grouped_with_content]')],
    expect: { content: 'content', reasoning: 'reasoning section', calls: [] },
  },
  {
    name: 'reasoning deltas: cut off right after <function=bash>', tools: 'bash', startsInThinking: true,
    text: 'I need to read the file.\n\n<tool_call>\n<function=bash>', chunks: ['I need to read the file.\n\n', '<tool_call>\n<function=bash>'],
    sources: [v(VR, 'test_reasoning_streaming_multi_token_deltas[tool_call_implicit_reasoning_end]')],
    expect: { content: '', reasoning: 'I need to read the file.\n\n<tool_call>\n<function=bash>', calls: [], finishedInThinking: true },
    differs: { from: 'vLLM', peerExpects: 'reasoning "I need to read the file.\\n\\n", content "<tool_call>\\n<function=bash>"', reason: 'the block is not a call yet (cut before a parameter or </function>), so it stays text of its section, the reasoning; <tool_call> does not end reasoning (see above)' },
  },
  {
    name: 'thinking disabled: plain content', tools: 'none', text: 'This is plain content',
    sources: [v(VR, 'test_reasoning_thinking_disabled[thinking_disabled_plain_content]')],
    expect: { content: 'This is plain content', calls: [] },
  },
  {
    name: 'thinking disabled: no think tags', tools: 'none', text: 'Some output without think tokens',
    sources: [v(VR, 'test_reasoning_thinking_disabled[thinking_disabled_no_think_tokens]')],
    expect: { content: 'Some output without think tokens', calls: [] },
  },
  {
    name: 'thinking disabled: a call', tools: 'bash', text: `I need to read the file.\n\n${BASH_BODY}`,
    sources: [v(VR, 'test_reasoning_thinking_disabled[thinking_disabled_with_tool_call]')],
    expect: { content: 'I need to read the file.', calls: [{ name: 'bash', arguments: { command: 'cat /etc/hosts' } }] },
    note: 'vLLM asserts its reasoning parser\'s output only (all content, the call text included, for its tool parser); the combined result is this',
  },
  // ---- SGLang Qwen3 reasoning detector ----
  {
    name: 'sglang reasoning: <think>…</think> at the start', tools: 'none', text: '<think>Let me think about this problem</think>The answer is 42.',
    sources: [s(SR, 'TestQwen3Detector.test_detect_and_parse_qwen3_format')],
    expect: { content: 'The answer is 42.', reasoning: 'Let me think about this problem', calls: [] },
  },
  {
    name: 'sglang reasoning: thinking off', tools: 'none', text: 'Direct answer without thinking.',
    sources: [s(SR, 'TestQwen3Detector.test_detect_and_parse_without_thinking')],
    expect: { content: 'Direct answer without thinking.', calls: [] },
  },
  {
    name: 'sglang reasoning: forced reasoning, </think> only', tools: 'none', startsInThinking: true, text: 'I need to think about this step by step.</think>The answer is 42.',
    sources: [s(SR, 'TestQwen3ForcedReasoningDetector.test_detect_and_parse_qwen3_forced_reasoning_format')],
    expect: { content: 'The answer is 42.', reasoning: 'I need to think about this step by step.', calls: [] },
  },
  {
    name: 'sglang reasoning: forced reasoning with <think>', tools: 'none', startsInThinking: true, text: '<think>I need to think about this.</think>The answer is 42.',
    sources: [s(SR, 'TestQwen3ForcedReasoningDetector.test_detect_and_parse_with_start_token')],
    expect: { content: 'The answer is 42.', reasoning: 'I need to think about this.', calls: [] },
  },
  {
    name: 'sglang reasoning: forced reasoning, streamed', tools: 'none', startsInThinking: true, text: 'I need to think about this.</think>The answer is 42.',
    chunks: ['I need to', ' think about this.', '</think>The answer is 42.'],
    sources: [s(SR, 'TestQwen3ForcedReasoningDetector.test_streaming_qwen3_forced_reasoning_format')],
    expect: { content: 'The answer is 42.', reasoning: 'I need to think about this.', calls: [] },
  },
  // ---- SGLang MiMo detector ----
  {
    name: 'sglang mimo: single call', tools: 'sglangMimo', text: '<tool_call>\n<function=execute_bash>\n<parameter=command>pwd && ls</parameter>\n</function>\n</tool_call>',
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_single_call_is_parsed')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'pwd && ls' } }] },
  },
  {
    name: 'sglang mimo: calls without newlines', tools: 'sglangMimo',
    text: `${mimo('execute_bash', '<parameter=command>ls</parameter>')}${mimo('get_weather', '<parameter=city>Tokyo</parameter>')}`,
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_multiple_calls_accumulate')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }, { name: 'get_weather', arguments: { city: 'Tokyo' } }] },
  },
  {
    name: 'sglang mimo: text before a call', tools: 'sglangMimo', text: `Sure, running now. ${mimo('execute_bash', '<parameter=command>ls</parameter>')}`,
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_leading_normal_text_preserved')],
    expect: { content: 'Sure, running now.', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }] },
    differs: { from: 'SGLang', peerExpects: 'normal_text "Sure, running now. "', reason: WHITESPACE_BEFORE_CALL },
  },
  {
    name: 'sglang mimo: plain text', tools: 'sglangMimo', text: 'Just prose.',
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_plain_text_yields_no_calls')],
    expect: { content: 'Just prose.', calls: [] },
  },
  {
    name: 'sglang mimo: types by schema', tools: 'sglangMimo',
    text: mimo('get_weather', '<parameter=city>Berlin</parameter><parameter=days>5</parameter><parameter=verbose>true</parameter>'),
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_parameter_types_are_coerced_per_schema')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Berlin', days: 5, verbose: true } }] },
  },
  {
    name: 'sglang mimo: a tool not offered', tools: 'sglangMimo', text: mimo('unknown_fn', '<parameter=x>1</parameter>'),
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_unknown_function_is_dropped_from_calls_by_default')],
    expect: { content: mimo('unknown_fn', '<parameter=x>1</parameter>'), calls: [] },
    note: 'SGLang drops the call; we keep its text as content (nothing the model wrote is lost)',
  },
  {
    name: 'sglang mimo: entities in values', tools: 'sglangMimo', text: mimo('execute_bash', '<parameter=command>echo &quot;hi&quot; &amp;&amp; exit</parameter>'),
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_html_entities_in_values_are_decoded')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'echo "hi" && exit' } }] },
  },
  {
    name: 'sglang mimo: <tool_call> without <function=', tools: 'sglangMimo', text: '<tool_call>no function here</tool_call>',
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_function_tag_missing_yields_no_call')],
    expect: { content: '<tool_call>no function here</tool_call>', calls: [] },
  },
  {
    name: 'sglang mimo: no parameters', tools: 'sglangMimo', text: mimo('execute_bash', ''),
    sources: [s(SM, 'TestMiMoDetectorDetectAndParse.test_parameterless_function_call')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: {} }] },
  },
  {
    name: 'sglang mimo: streaming, plain text', tools: 'sglangMimo', text: 'Hello world.',
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_plain_text_passes_through')],
    expect: { content: 'Hello world.', calls: [] },
  },
  {
    name: 'sglang mimo: streaming, whole call in one chunk', tools: 'sglangMimo', text: mimo('execute_bash', '<parameter=command>ls</parameter>'),
    chunks: [mimo('execute_bash', '<parameter=command>ls</parameter>')],
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_complete_call_in_single_chunk')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }] },
  },
  {
    name: 'sglang mimo: streaming, name and value split across chunks', tools: 'sglangMimo', text: mimo('execute_bash', '<parameter=command>ls -la</parameter>'),
    chunks: ['<tool_call><function=execute', '_bash><parameter=command>ls', ' -la</parameter></function>', '</tool_call>'],
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_call_split_across_chunks_reassembles')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'ls -la' } }] },
  },
  {
    name: 'sglang mimo: streaming, text then call', tools: 'sglangMimo', text: `Let me run that. ${mimo('execute_bash', '<parameter=command>ls</parameter>')}`,
    chunks: ['Let me run that. ', mimo('execute_bash', '<parameter=command>ls</parameter>')],
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_leading_text_emitted_separately_from_call')],
    expect: { content: 'Let me run that.', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }] },
    differs: { from: 'SGLang', peerExpects: 'normal_text "Let me run that. "', reason: WHITESPACE_BEFORE_CALL },
  },
  {
    name: 'sglang mimo: streaming, output ends after the function name', tools: 'sglangMimo', text: '<tool_call><function=execute_bash>',
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_incomplete_call_is_buffered_not_emitted')],
    expect: { content: '<tool_call><function=execute_bash>', calls: [] },
    note: 'SGLang asserts that nothing is emitted while the call is open; our stream holds it back too, and at the end of the text the unread block is text',
  },
  {
    name: 'sglang mimo: streaming, call completes on the next chunk', tools: 'sglangMimo', text: mimo('execute_bash', '<parameter=command>ls</parameter>'),
    chunks: ['<tool_call><function=execute_bash><parameter=command>ls</parameter>', '</function></tool_call>'],
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_incomplete_call_completes_on_next_chunk')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }] },
  },
  {
    name: 'sglang mimo: streaming, two calls get indexes 0 and 1', tools: 'sglangMimo',
    text: `${mimo('execute_bash', '<parameter=command>ls</parameter>')}${mimo('execute_bash', '<parameter=command>pwd</parameter>')}`,
    chunks: [mimo('execute_bash', '<parameter=command>ls</parameter>'), mimo('execute_bash', '<parameter=command>pwd</parameter>')],
    sources: [s(SM, 'TestMiMoDetectorStreaming.test_tool_index_advances_across_streamed_calls')],
    expect: { content: '', calls: [{ name: 'execute_bash', arguments: { command: 'ls' } }, { name: 'execute_bash', arguments: { command: 'pwd' } }] },
  },
  {
    name: 'sglang mimo: conversions that both peers share', tools: 'sglangMimoTypes',
    text: mimo('f', '<parameter=i>null</parameter><parameter=b>Null</parameter><parameter=s>a &amp; b</parameter><parameter=o>{"k": "v"}</parameter><parameter=a>[1, 2, 3]</parameter><parameter=untyped>raw value</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_null_short_circuits_before_type_coercion'), s(SM, 'TestConvertParamValue.test_null_uppercase_returns_none'), s(SM, 'TestConvertParamValue.test_html_entities_are_unescaped'), s(SM, 'TestConvertParamValue.test_object_valid_json_parses'), s(SM, 'TestConvertParamValue.test_array_valid_json_parses'), s(SM, 'TestConvertParamValue.test_untyped_param_defaults_to_string_path')],
    expect: { content: '', calls: [{ name: 'f', arguments: { i: null, b: null, s: 'a & b', o: { k: 'v' }, a: [1, 2, 3], untyped: 'raw value' } }] },
  },
  {
    name: 'sglang mimo: "NULL" for an integer', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=i>NULL</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_null_uppercase_returns_none')],
    expect: { content: '', calls: [{ name: 'f', arguments: { i: null } }] },
  },
  {
    name: 'sglang mimo: "null" for a string parameter', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=s>null</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_null_lowercase_returns_none')],
    expect: { content: '', calls: [{ name: 'f', arguments: { s: 'null' } }] },
    differs: { from: 'SGLang', peerExpects: 's null', reason: 'vLLM keeps a string parameter\'s "null" a string (test_string_null_value_preserved); we follow vLLM: the schema says string, and "null" is a valid string' },
  },
  {
    name: 'sglang mimo: quotes decoded', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=s>&quot;hi&quot;</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_html_unescape_applies_to_quotes')],
    expect: { content: '', calls: [{ name: 'f', arguments: { s: '"hi"' } }] },
  },
  {
    name: 'sglang mimo: integers and numbers', tools: 'sglangMimoTypes',
    text: mimo('f', '<parameter=s>hello</parameter><parameter=i>42</parameter><parameter=n>3.14</parameter><parameter=fl>2.5</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_string_passthrough'), s(SM, 'TestConvertParamValue.test_integer_valid'), s(SM, 'TestConvertParamValue.test_number_with_fraction_stays_float'), s(SM, 'TestConvertParamValue.test_float_type_dispatches_to_number_path')],
    expect: { content: '', calls: [{ name: 'f', arguments: { s: 'hello', i: 42, n: 3.14, fl: 2.5 } }] },
  },
  {
    name: 'sglang mimo: negative integer, invalid integer', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=i>-7</parameter><parameter=n>abc</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_integer_negative'), s(SM, 'TestConvertParamValue.test_number_invalid_degenerates_to_string')],
    expect: { content: '', calls: [{ name: 'f', arguments: { i: -7, n: 'abc' } }] },
  },
  {
    name: 'sglang mimo: text for an integer stays a string', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=i>abc</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_integer_invalid_degenerates_to_string')],
    expect: { content: '', calls: [{ name: 'f', arguments: { i: 'abc' } }] },
  },
  {
    name: 'sglang mimo: whole numbers for "number" are integers', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=n>3.0</parameter><parameter=fl>3</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_number_whole_value_collapses_to_int'), s(SM, 'TestConvertParamValue.test_number_bare_integer_literal_collapses_to_int')],
    expect: { content: '', calls: [{ name: 'f', arguments: { n: 3, fl: 3 } }] },
  },
  {
    name: 'sglang mimo: uint32 is an integer type', tools: 'sglangUint32', text: mimo('f', '<parameter=x>42</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_uint_prefix_dispatches_to_integer')],
    expect: { content: '', calls: [{ name: 'f', arguments: { x: 42 } }] },
  },
  {
    name: 'sglang mimo: long is an integer type', tools: 'sglangLong', text: mimo('f', '<parameter=x>42</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_long_type_dispatches_to_integer')],
    expect: { content: '', calls: [{ name: 'f', arguments: { x: 42 } }] },
  },
  {
    name: 'sglang mimo: booleans in any case', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=b>TRUE</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_boolean_true'), s(SM, 'TestConvertParamValue.test_boolean_true_uppercase')],
    expect: { content: '', calls: [{ name: 'f', arguments: { b: true } }] },
  },
  {
    name: 'sglang mimo: false', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=b>false</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_boolean_false')],
    expect: { content: '', calls: [{ name: 'f', arguments: { b: false } }] },
  },
  {
    name: 'sglang mimo: "yes" for a boolean', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=b>yes</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_boolean_invalid_silently_becomes_false')],
    expect: { content: '', calls: [{ name: 'f', arguments: { b: 'yes' } }] },
    differs: { from: 'SGLang', peerExpects: 'b false', reason: 'turning text that is no boolean into false is a silent wrong value; it stays the string, as vLLM keeps values it cannot convert' },
  },
  {
    name: 'sglang mimo: Python-literal object', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=o>{\'k\': \'v\'}</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_object_falls_back_to_ast_literal_for_python_repr')],
    expect: { content: '', calls: [{ name: 'f', arguments: { o: '{\'k\': \'v\'}' } }] },
    differs: { from: 'SGLang', peerExpects: 'o {"k": "v"}', reason: NO_PYTHON_LITERALS },
  },
  {
    name: 'sglang mimo: invalid object stays a string', tools: 'sglangMimoTypes', text: mimo('f', '<parameter=o>{not valid</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_object_degenerates_to_string_when_both_parsers_fail')],
    expect: { content: '', calls: [{ name: 'f', arguments: { o: '{not valid' } }] },
  },
  {
    name: 'sglang mimo: unknown type "tuple"', tools: 'sglangTuple', text: mimo('f', '<parameter=x>(1, 2)</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_unknown_type_uses_ast_literal_eval')],
    expect: { content: '', calls: [{ name: 'f', arguments: { x: '(1, 2)' } }] },
    differs: { from: 'SGLang', peerExpects: 'x [1, 2] (a Python tuple)', reason: `a type name JSON schema does not have gives a string; ${NO_PYTHON_LITERALS}` },
  },
  {
    name: 'sglang mimo: unknown type, not a literal', tools: 'sglangTuple', text: mimo('f', '<parameter=x>abc</parameter>'),
    sources: [s(SM, 'TestConvertParamValue.test_unknown_type_with_ast_failure_returns_original_string')],
    expect: { content: '', calls: [{ name: 'f', arguments: { x: 'abc' } }] },
  },
  {
    name: 'sglang mimo (weather/search): single call', tools: 'sglangMimoWeatherSearch', text: mimoNl('get_weather', [['city', 'Beijing']]),
    sources: [s(SM, 'TestMiMoDetector.test_single_tool_call')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing' } }] },
  },
  {
    name: 'sglang mimo (weather/search): text before', tools: 'sglangMimoWeatherSearch', text: `Let me check the weather.\n${mimoNl('get_weather', [['city', 'Beijing']])}`,
    sources: [s(SM, 'TestMiMoDetector.test_normal_text_before_tool_call')],
    expect: { content: 'Let me check the weather.', calls: [{ name: 'get_weather', arguments: { city: 'Beijing' } }] },
    differs: { from: 'SGLang', peerExpects: 'normal_text "Let me check the weather.\\n"', reason: WHITESPACE_BEFORE_CALL },
  },
  {
    name: 'sglang mimo (weather/search): two tools', tools: 'sglangMimoWeatherSearch',
    text: `${mimoNl('get_weather', [['city', 'Beijing']])}\n${mimoNl('search', [['query', 'restaurants']])}`,
    sources: [s(SM, 'TestMiMoDetector.test_multiple_tool_calls')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing' } }, { name: 'search', arguments: { query: 'restaurants' } }] },
  },
  {
    name: 'sglang mimo (weather/search): several arguments', tools: 'sglangMimoWeatherSearch', text: mimoNl('get_weather', [['city', 'London'], ['unit', 'celsius']]),
    sources: [s(SM, 'TestMiMoDetector.test_tool_call_with_multiple_arguments')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'London', unit: 'celsius' } }] },
  },
  {
    name: 'sglang mimo (weather/search): streamed in two chunks', tools: 'sglangMimoWeatherSearch', text: mimoNl('get_weather', [['city', 'Beijing']]),
    chunks: ['<tool_call>\n<function=get_weather>\n<parameter=city>Beijing', '</parameter>\n</function>\n</tool_call>'],
    sources: [s(SM, 'TestMiMoDetector.test_streaming_single_tool_call'), s(SM, 'TestMiMoDetector.test_end_of_generation_tracking')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing' } }] },
  },
  {
    name: 'sglang mimo (weather/search): streamed text, then call', tools: 'sglangMimoWeatherSearch',
    text: `I'll look that up. ${mimoNl('get_weather', [['city', 'Tokyo'], ['unit', 'celsius']])}`,
    chunks: ['I\'ll look that up. ', mimoNl('get_weather', [['city', 'Tokyo'], ['unit', 'celsius']])],
    sources: [s(SM, 'TestMiMoDetector.test_streaming_text_then_tool_call'), s(SM, 'TestMiMoDetector.test_streaming_normal_text_before_tool')],
    expect: { content: 'I\'ll look that up.', calls: [{ name: 'get_weather', arguments: { city: 'Tokyo', unit: 'celsius' } }] },
    differs: { from: 'SGLang', peerExpects: 'normal_text "I\'ll look that up. "', reason: WHITESPACE_BEFORE_CALL },
  },
  {
    name: 'sglang mimo (weather/search): trailing text after the call', tools: 'sglangMimoWeatherSearch', text: `${mimoNl('get_weather', [['city', 'Beijing']])} Hello world`,
    sources: [s(SM, 'TestMiMoDetector.test_streaming_trailing_text_after_tool_call')],
    expect: { content: ' Hello world', calls: [{ name: 'get_weather', arguments: { city: 'Beijing' } }] },
  },
  {
    name: 'sglang mimo (weather/search): &amp; decoded', tools: 'sglangMimoWeatherSearch', text: mimoNl('get_weather', [['city', 'San &amp; Francisco']]),
    sources: [s(SM, 'TestMiMoDetector.test_html_entity_unescaping')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'San & Francisco' } }] },
  },
  {
    name: 'sglang mimo (weather/search): a tool not offered', tools: 'sglangMimoWeatherSearch', text: mimoNl('unknown_tool', [['city', 'Beijing']]),
    sources: [s(SM, 'TestMiMoDetector.test_unknown_tool_filtered')],
    expect: { content: mimoNl('unknown_tool', [['city', 'Beijing']]), calls: [] },
    note: 'SGLang drops the call; we keep its text as content',
  },
  {
    name: 'sglang mimo: integer type', tools: 'sglangGetDays', text: mimoNl('get_days', [['days', '5']]),
    sources: [s(SM, 'TestMiMoDetector.test_integer_type_conversion')],
    expect: { content: '', calls: [{ name: 'get_days', arguments: { days: 5 } }] },
  },
  {
    name: 'sglang mimo: type ["string", "null"]', tools: 'sglangUnionString', text: mimoNl('get_weather', [['city', 'Beijing'], ['unit', 'celsius']]),
    sources: [s(SM, 'TestMiMoDetector.test_union_type_param_converts_like_first_non_null')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing', unit: 'celsius' } }] },
  },
  {
    name: 'sglang mimo: type ["string", "null"] with null', tools: 'sglangUnionString', text: mimoNl('get_weather', [['city', 'Beijing'], ['unit', 'null']]),
    sources: [s(SM, 'TestMiMoDetector.test_union_type_param_null_value')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing', unit: null } }] },
  },
  {
    name: 'sglang mimo: type ["integer", "null"]', tools: 'sglangUnionInteger', text: mimoNl('get_weather', [['city', 'Beijing'], ['days', '7']]),
    sources: [s(SM, 'TestMiMoDetector.test_union_type_integer_converts_to_int')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing', days: 7 } }] },
  },
  {
    name: 'sglang mimo: type ["null"] with text', tools: 'sglangUnionNull', text: mimoNl('get_weather', [['city', 'Beijing'], ['unit', 'celsius']]),
    sources: [s(SM, 'TestMiMoDetector.test_union_type_all_null_falls_back_to_string')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing', unit: 'celsius' } }] },
  },
  {
    name: 'sglang mimo: plain types', tools: 'sglangPlain', text: mimoNl('get_weather', [['city', 'Beijing'], ['days', '7'], ['unit', 'celsius']]),
    sources: [s(SM, 'TestMiMoDetector.test_plain_types_unchanged'), s(SM, 'TestMiMoDetector.test_no_tool_call_returns_normal_text')],
    expect: { content: '', calls: [{ name: 'get_weather', arguments: { city: 'Beijing', days: 7, unit: 'celsius' } }] },
  },
  // ---- SGLang Qwen3-Coder detector ----
  {
    name: 'sglang coder: plain text', tools: 'sglangCoder', text: 'This is plain text test',
    sources: [s(SQ, 'test_plain_text')],
    expect: { content: 'This is plain text test', calls: [] },
  },
  {
    name: 'sglang coder: bare <function=…> (no <tool_call>)', tools: 'sglangCoder',
    text: sglangCoderBare('<parameter=location>Boston</parameter>\n<parameter=unit>celsius</parameter>\n<parameter=days>3</parameter>\n'),
    sources: [s(SQ, 'test_single_tool_call')],
    expect: { content: sglangCoderBare('<parameter=location>Boston</parameter>\n<parameter=unit>celsius</parameter>\n<parameter=days>3</parameter>\n'), calls: [] },
    differs: { from: 'SGLang', peerExpects: 'one call get_current_weather {location: Boston, unit: celsius, days: 3}', reason: NO_BARE_FUNCTION },
  },
  {
    name: 'sglang coder: the same call in <tool_call> (as MiMo writes it)', tools: 'sglangCoder',
    text: `Text prefix + tool call test\n\n<tool_call>\n${sglangCoderBare('<parameter=location>Boston</parameter>\n<parameter=unit>celsius</parameter>\n<parameter=days>3</parameter>\n')}\n</tool_call>`,
    sources: [s(SQ, 'test_single_tool_call_with_text')],
    expect: { content: 'Text prefix + tool call test', calls: [{ name: 'get_current_weather', arguments: { location: 'Boston', unit: 'celsius', days: 3 } }] },
    note: 'the peer\'s input wrapped in <tool_call> as MiMo\'s template writes calls; SGLang\'s expected text also keeps the whitespace before the call',
  },
  {
    name: 'sglang coder: a call in <tool_call> after text (random fragmentation input)', tools: 'sglangCoder',
    text: 'Text prefix + random fragmentation stress test\n\n<tool_call>\n<function=get_current_weather>\n<parameter=location>San Francisco</parameter>\n</function>\n</tool_call>',
    sources: [s(SQ, 'test_random_fragmentation_stress_test')],
    expect: { content: 'Text prefix + random fragmentation stress test', calls: [{ name: 'get_current_weather', arguments: { location: 'San Francisco' } }] },
    note: 'the peer\'s call is a bare <function=…>; here wrapped in <tool_call> as MiMo writes it; every split is tested instead of random ones',
  },
  {
    name: 'sglang coder: two calls in <tool_call>, boolean "True"', tools: 'sglangCoder',
    text: 'Text prefix + double tool call test\n\n<tool_call>\n<function=get_current_weather>\n<parameter=location>New York</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=sql_interpreter>\n<parameter=query>SELECT * FROM users</parameter>\n<parameter=dry_run>True</parameter>\n</function>\n</tool_call>\n',
    sources: [s(SQ, 'test_double_tool_call')],
    expect: { content: 'Text prefix + double tool call test', calls: [{ name: 'get_current_weather', arguments: { location: 'New York' } }, { name: 'sql_interpreter', arguments: { query: 'SELECT * FROM users', dry_run: true } }] },
    note: 'the peer\'s calls are bare <function=…>; here wrapped in <tool_call> as MiMo writes them',
  },
  {
    name: 'sglang coder: no </parameter> at all (implicit close), in <tool_call>', tools: 'sglangCoder',
    text: 'Text prefix + implicit parameter close test\n\n<tool_call>\n<function=get_current_weather>\n<parameter=location>Paris\n<parameter=unit>celsius\n<parameter=days>3\n</function>\n</tool_call>',
    sources: [s(SQ, 'test_implicit_parameter_close')],
    expect: { content: 'Text prefix + implicit parameter close test', calls: [{ name: 'get_current_weather', arguments: { location: 'Paris', unit: 'celsius', days: 3 } }] },
    note: 'the peer\'s call is a bare <function=…>; here wrapped in <tool_call> as MiMo writes it (issue 13, failure 1)',
  },
  {
    name: 'sglang coder: no </parameter> at all, cut off after </function>', tools: 'sglangCoder',
    text: '<tool_call>\n<function=get_current_weather>\n<parameter=location>Paris\n<parameter=unit>celsius\n<parameter=days>3\n</function>',
    sources: [s(SQ, 'test_implicit_parameter_close'), issue('failure 1: no </parameter> at all')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: { location: 'Paris', unit: 'celsius', days: 3 } }] },
  },
  {
    name: 'sglang coder: array with a single-quoted string', tools: 'sglangCoder',
    text: 'Text prefix + complex schema tool call test\n\n<tool_call>\n<function=TodoWrite>\n<parameter=todos>\n[\n {"content": "Buy a new car", "status": \'pending\'},\n {"content": "Buy a new house", "status": "completed"}\n]\n</parameter>\n</function>\n</tool_call>\n\n',
    sources: [s(SQ, 'test_complex_schema_toolcall')],
    expect: { content: 'Text prefix + complex schema tool call test', calls: [{ name: 'TodoWrite', arguments: { todos: '[\n {"content": "Buy a new car", "status": \'pending\'},\n {"content": "Buy a new house", "status": "completed"}\n]' } }] },
    differs: { from: 'SGLang', peerExpects: 'todos as a list of two objects', reason: NO_PYTHON_LITERALS },
  },
  {
    name: 'sglang coder: streamed in tag-sized chunks', tools: 'weatherArea',
    text: 'Sure! Let me check the weather.<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>',
    chunks: ['Sure! ', 'Let me check ', 'the weather.', '<tool_call>', '\n<function=get_current_weather>', '\n<parameter=city>', '\nDallas', '\n</parameter>', '\n<parameter=state>', '\nTX', '\n</parameter>', '\n</function>', '\n</tool_call>'],
    sources: [s(SF, 'TestQwen3CoderDetector.test_parse_streaming_simple')],
    expect: { content: 'Sure! Let me check the weather.', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas', state: 'TX' } }] },
  },
  {
    name: 'sglang coder: streamed, cut off inside the second value', tools: 'weatherArea',
    text: '<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX',
    chunks: ['<tool_call>', '\n<function=get_current_weather>', '\n<parameter=city>', '\nDallas', '\n</parameter>', '\n<parameter=state>', '\nTX'],
    sources: [s(SF, 'TestQwen3CoderDetector.test_parse_streaming_incomplete'), issue('cut off mid-call (max_tokens)')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas' } }] },
    differs: { from: 'SGLang', peerExpects: 'streamed arguments \'{"city": "Dallas"\' not closed (and "TX" once more text comes)', reason: 'when the text ends inside a call, the call is finished with the parameters whose values ended (the cut value of state may be partial), so the stream and the result agree; the finish reason (length / max_tokens) tells the client it was cut' },
  },
  {
    name: 'sglang coder: the same, completed by the next chunk', tools: 'weatherArea',
    text: '<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>',
    chunks: ['<tool_call>', '\n<function=get_current_weather>', '\n<parameter=city>', '\nDallas', '\n</parameter>', '\n<parameter=state>', '\nTX', '\n</parameter>\n</function>\n</tool_call>'],
    sources: [s(SF, 'TestQwen3CoderDetector.test_parse_streaming_incomplete')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas', state: 'TX' } }] },
  },
  {
    name: 'sglang coder: no parameters', tools: 'weatherArea', text: '<tool_call>\n<function=get_current_weather>\n</function>\n</tool_call>',
    sources: [s(SF, 'TestQwen3CoderDetector.test_edge_case_no_parameters')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: {} }] },
  },
  {
    name: 'sglang coder: ">" in a value', tools: 'weatherArea', text: '<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas->TX\n</parameter>\n</function>\n</tool_call>',
    sources: [s(SF, 'TestQwen3CoderDetector.test_edge_case_special_chars_in_value')],
    expect: { content: '', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas->TX' } }] },
  },
  {
    name: 'sglang coder: token-sized chunks', tools: 'weatherArea',
    text: 'I\'ll check the weather.<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>',
    chunks: ['I\'ll check the weather.', '<tool_call>', '\n<function=get_current_weather>\n', '<parameter=city>\n', 'Dallas\n', '</parameter>\n', '<parameter=state>\n', 'TX\n', '</parameter>\n', '</function>\n', '</tool_call>'],
    sources: [s(SF, 'TestQwen3CoderDetector.test_parse_streaming_incremental')],
    expect: { content: 'I\'ll check the weather.', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas', state: 'TX' } }] },
  },
  {
    name: 'sglang coder: indented calls with text between', tools: 'weatherArea',
    text: '<tool_call>\n        <function=get_current_weather>\n        <parameter=city>\n        Dallas\n        </parameter>\n        <parameter=state>\n        TX\n        </parameter>\n        </function>\n        </tool_call>\n        Some text in between.\n        <tool_call>\n        <function=calculate_area>\n        <parameter=shape>\n        circle\n        </parameter>\n        <parameter=dimensions>\n        {"radius": 5}\n        </parameter>\n        </function>\n        </tool_call>',
    sources: [s(SF, 'TestQwen3CoderDetector.test_parse_streaming_multiple_tools')],
    expect: { content: '\n        Some text in between.', calls: [{ name: 'get_current_weather', arguments: { city: '        Dallas\n        ', state: '        TX\n        ' } }, { name: 'calculate_area', arguments: { shape: '        circle\n        ', dimensions: { radius: 5 } } }] },
    differs: { from: 'SGLang', peerExpects: 'city "Dallas", state "TX", shape "circle"', reason: 'a string value keeps its text but for one leading and one trailing newline, as vLLM strips (spec §5.2); trimming all whitespace would change code and indented text' },
  },
  // ---- issue 13's own examples ----
  {
    name: 'issue: a file content holding </parameter> then a known parameter name as text', tools: 'writeFile',
    text: writeFile('a.md', 'Close a value with </parameter> and start <parameter=path> like this.\n'),
    sources: [issue('failure 2: tag text inside a string value')],
    expect: { content: '', calls: [{ name: 'write_file', arguments: { path: 'a.md', content: 'Close a value with </parameter> and start <parameter=path> like this.' } }] },
  },
  {
    name: 'issue: schema shapes (nested anyOf, $ref to $defs, allOf, sized names) and null for non-strings', tools: 'issueSchemas',
    text: '<tool_call>\n<function=configure>\n<parameter=tags>\n["a", "b"]\n</parameter>\n<parameter=limit>\n10\n</parameter>\n<parameter=ratio>\n2.5\n</parameter>\n<parameter=count>\n7\n</parameter>\n<parameter=id>\n42\n</parameter>\n<parameter=nothing>\nnull\n</parameter>\n<parameter=scale>\nnull\n</parameter>\n<parameter=label>\nnull\n</parameter>\n</function>\n</tool_call>',
    sources: [issue('failures 3, 4, 5: null, nested anyOf, width suffixes')],
    expect: { content: '', calls: [{ name: 'configure', arguments: { tags: ['a', 'b'], limit: 10, ratio: 2.5, count: 7, id: 42, nothing: null, scale: null, label: 'null' } }] },
  },
  {
    name: 'issue: cut off between parameters', tools: 'weatherArea',
    text: 'Checking.\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n',
    sources: [issue('cut off mid-call (max_tokens)')],
    expect: { content: 'Checking.', calls: [{ name: 'get_current_weather', arguments: { city: 'Dallas' } }] },
  },
  {
    name: 'issue: cut off before the call is read (after the name)', tools: 'weatherArea',
    text: 'Checking.\n<tool_call>\n<function=get_current_weather>\n',
    sources: [issue('cut off mid-call (max_tokens)')],
    expect: { content: 'Checking.\n<tool_call>\n<function=get_current_weather>\n', calls: [] },
  },
];
