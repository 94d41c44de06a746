/*
 * The model picker and the connection badge (#conn, `data-state` loading | up | down): GET v1/models fills
 * #model (keeping the previous or stored choice), reports an unreachable server, a missing API key (opening the
 * settings) or an empty list in the error banner, and on every change of model describes its MoE layout and MTP
 * from the `mimo` extension and lays out the heat map's rows for it.
 */
import { errorMessage, fetchModels } from './api.js';
import { buildGrid } from './heatmap.js';
import { clearError, el, expertInfo, node, selectedModel, showError, state, store } from './page.js';

export async function loadModels() {
  el.conn.dataset.state = 'loading';
  el.conn.textContent = 'connecting…';
  let res;
  try {
    res = await fetchModels(el.apiKey.value);
  } catch (e) {
    el.conn.dataset.state = 'down';
    el.conn.textContent = 'server unreachable';
    showError(`Cannot reach the server: ${e.message}`);
    return;
  }
  if (!res.ok) {
    el.conn.dataset.state = 'down';
    el.conn.textContent = res.status === 401 ? 'API key needed' : `error ${res.status}`;
    showError(`GET /v1/models failed — ${await errorMessage(res)}`);
    if (res.status === 401) {
      // This server requires a key: the field is no longer optional.
      el.apiKeyNote.textContent = '(required by this server; sent as Authorization: Bearer)';
      el.apiKey.placeholder = 'required';
      el.apiKey.required = true;
      el.settingsBox.open = true;
      el.apiKey.focus();
    }
    return;
  }
  let body;
  try {
    body = await res.json();
  } catch {
    showError('GET /v1/models did not return JSON.');
    return;
  }
  if (el.apiKey.value.trim() === '') el.apiKeyNote.textContent = '(optional here: this server takes requests without one; sent as Authorization: Bearer)';
  state.models = body && Array.isArray(body.data) ? body.data : [];
  const previous = el.model.value || store.get('model', '');
  el.model.replaceChildren(...state.models.map((m) => {
    const o = node('option', '', m.id);
    o.value = m.id;
    return o;
  }));
  if (state.models.some((m) => m.id === previous)) el.model.value = previous;
  el.conn.dataset.state = state.models.length ? 'up' : 'down';
  el.conn.textContent = state.models.length ? 'connected' : 'no models';
  if (!state.models.length) showError('The server lists no models.');
  else clearError();
  onModelChange();
}

export function onModelChange() {
  const m = selectedModel();
  store.set('model', el.model.value);
  const info = expertInfo(m);
  if (!info) {
    el.modelInfo.textContent = m ? 'No expert information for this model.' : '';
    el.statMtpBox.hidden = true;
    return;
  }
  const parts = [
    `${info.num_layers} layers`,
    `${info.moe_layers.length} MoE`,
    `top-${info.experts_per_token} of ${info.num_experts} experts`,
    info.mtp > 0 ? `MTP ${info.mtp} draft${info.mtp === 1 ? '' : 's'}/step` : 'MTP off',
  ];
  el.modelInfo.textContent = parts.join(' · ');
  // Thinking follows the model's own chat-template default until the user sets it in this browser.
  if (typeof info.thinking_default === 'boolean' && store.get('thinking', null) === null) el.thinking.checked = info.thinking_default;
  el.statMtpBox.hidden = !(info.mtp > 0);
  if (!state.shown) buildGrid(info);
}
