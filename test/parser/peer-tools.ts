/**
 * The tool lists the peer test suites offer (vLLM tests/tool_parsers, SGLang test/…/function_call), rewritten as
 * OpenAI tools, by the name peer-cases.ts uses. Schemas are as the peers wrote them (including their non-standard
 * type names such as "float").
 */
import type { ChatTool } from '../../src/tokenizer/tokenizer.js';

function tool(name: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}): ChatTool {
  return { type: 'function', function: { name, parameters: { type: 'object', properties, ...extra } } };
}

const WEATHER_PARAMS = {
  city: { type: 'string', description: 'The city name' },
  state: { type: 'string', description: 'The state code' },
  unit: { type: 'string', enum: ['fahrenheit', 'celsius'] },
};
const AREA_PARAMS = { shape: { type: 'string' }, dimensions: { type: 'object' }, precision: { type: 'integer' } };
const WRITE_FILE = tool('write_file', { path: { type: 'string' }, content: { type: 'string' } });

export const PEER_TOOLS = {
  /** No tools offered (vLLM's MiMo-V2-Flash and qwen3_xml common tests pass none). */
  none: [],
  /** vLLM test_qwen3coder_tool_parser.py / test_qwen3_xml_coder_shared.py `sample_tools`; SGLang TestQwen3CoderDetector. */
  weatherArea: [tool('get_current_weather', WEATHER_PARAMS, { required: ['city', 'state'] }), tool('calculate_area', AREA_PARAMS)],
  /** vLLM `test_extract_tool_calls_type_conversion`. */
  types: [tool('test_types', {
    int_param: { type: 'integer' }, float_param: { type: 'float' }, bool_param: { type: 'boolean' },
    str_param: { type: 'string' }, obj_param: { type: 'object' },
  })],
  /** vLLM test_qwen3xml_tool_parser.py `test_convert_param_value_invalid_emits_warning`: one parameter per type name. */
  vllmNumberTypes: [tool('convert', Object.fromEntries(['int', 'integer', 'uint', 'long', 'short', 'unsigned', 'num', 'float'].map((t) => [`p_${t}`, { type: t }])))],
  /** vLLM `test_extract_tool_calls_anyof_type_conversion`. */
  anyOf: [tool('test_anyof', {
    anyof_int: { anyOf: [{ type: 'integer' }, { type: 'null' }], default: 5 },
    anyof_str: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    anyof_array: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'null' }] },
    anyof_obj: { anyOf: [{ type: 'object' }, { type: 'null' }] },
    type_as_array: { type: ['integer', 'null'] },
    multi_non_null: { anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] },
  })],
  /** vLLM `test_extract_tool_calls_anyof_type_conversion_streaming`. */
  searchWeb: [tool('search_web', {
    query: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    count: { anyOf: [{ type: 'integer' }, { type: 'null' }], default: 5 },
    verbose: { anyOf: [{ type: 'boolean' }, { type: 'null' }] },
  })],
  greet: [tool('greet', { message: { type: 'string' } })],
  search: [tool('search', { query: { type: 'string' } })],
  setCode: [tool('set_code', { code: { anyOf: [{ type: 'string' }, { type: 'null' }] } })],
  setCount: [tool('set_count', { count: { anyOf: [{ type: 'integer' }, { type: 'null' }] } })],
  setValue: [tool('set_value', { optional: { anyOf: [{ type: 'string' }, { type: 'null' }] } })],
  updateRecord: [tool('update_record', { data: { anyOf: [{ type: 'object' }, { type: 'null' }] } })],
  process: [tool('process', { name: { type: 'string' }, data: { type: 'object' } })],
  writeFile: [WRITE_FILE],
  pick: [tool('pick', { items: { type: 'array' } })],
  weatherCity: [tool('get_weather', { city: { type: 'string' } })],
  log: [tool('log', { msg: { type: 'string' } })],
  /** SGLang test_qwen3_coder_detector/test_fixtures.py `get_test_tools`. */
  sglangCoder: [
    tool('get_current_weather', { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } }, { required: ['location'] }),
    tool('sql_interpreter', { query: { type: 'string' }, dry_run: { type: 'boolean' } }),
    tool('TodoWrite', { todos: { type: 'array', items: { type: 'object', properties: { content: { type: 'string' }, status: { type: 'string' } } } } }),
  ],
  /** SGLang test_mimo_detector.py TestMiMoDetectorDetectAndParse. */
  sglangMimo: [
    tool('execute_bash', { command: { type: 'string' } }, { required: ['command'] }),
    tool('get_weather', { city: { type: 'string' }, days: { type: 'integer' }, verbose: { type: 'boolean' } }),
  ],
  /** SGLang test_mimo_detector.py TestConvertParamValue. */
  sglangMimoTypes: [tool('f', {
    s: { type: 'string' }, i: { type: 'integer' }, n: { type: 'number' }, fl: { type: 'float' }, b: { type: 'boolean' },
    o: { type: 'object' }, a: { type: 'array' }, untyped: { description: 'no type' },
  })],
  sglangUint32: [tool('f', { x: { type: 'uint32' } })],
  sglangLong: [tool('f', { x: { type: 'long' } })],
  sglangTuple: [tool('f', { x: { type: 'tuple' } })],
  /** SGLang test_mimo_detector.py (another version) setUp: get_weather(city, unit) and search(query). */
  sglangMimoWeatherSearch: [
    tool('get_weather', { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, { required: ['city'] }),
    tool('search', { query: { type: 'string' } }, { required: ['query'] }),
  ],
  sglangGetDays: [tool('get_days', { days: { type: 'integer' } })],
  /** SGLang test_mimo_detector.py (union-type version) `_make_tools`. */
  sglangUnionString: [tool('get_weather', { city: { type: 'string' }, unit: { type: ['string', 'null'] } })],
  sglangUnionInteger: [tool('get_weather', { city: { type: 'string' }, days: { type: ['integer', 'null'] } })],
  sglangUnionNull: [tool('get_weather', { city: { type: 'string' }, unit: { type: ['null'] } })],
  sglangPlain: [tool('get_weather', { city: { type: 'string' }, days: { type: 'integer' }, unit: { type: 'string' } })],
  /** vLLM test_qwen3_reasoning_parser.py TOOL_CALL_BODY's tool. */
  bash: [tool('bash', { command: { type: 'string' } })],
  /** Issue 13's own examples of schema shapes (nested unions, $ref, sized names). */
  issueSchemas: [tool('configure', {
    tags: { anyOf: [{ anyOf: [{ type: 'null' }, { anyOf: [{ type: 'array' }, { type: 'null' }] }] }, { type: 'null' }] },
    limit: { $ref: '#/$defs/Limit' },
    ratio: { allOf: [{ type: 'float64' }] },
    count: { type: 'int64' },
    id: { type: 'uint32' },
    nothing: { type: 'integer' },
    scale: { type: 'number' },
    label: { type: 'string' },
  }, { $defs: { Limit: { type: 'integer' } } })],
} satisfies Record<string, ChatTool[]>;

export type PeerToolSet = keyof typeof PEER_TOOLS;
