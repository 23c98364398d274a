// Lua: the modules and what they registered, an RPC called, a snippet run in a sandbox of
// its own, the modules reloaded (connections stay).

import { useState } from "react";
import { Button, Card, ErrorBox, Field, Form, Input, Json, Loading, Page, Select, Table, TextArea, useAction, useLoad, useSession } from "../ui";

export function Lua() {
  const { api, can } = useSession();
  const runtime = useLoad(() => api.runtime(), [api]);
  const [rpc, setRpc] = useState({ id: "", payload: "", user_id: "" });
  const [rpcAnswer, setRpcAnswer] = useState<string | null>(null);
  const [code, setCode] = useState('return "hello from " .. _VERSION');
  const [run, setRun] = useState<{ result: unknown[]; output: string[] } | null>(null);
  const [reloaded, setReloaded] = useState<string | null>(null);
  const call = useAction();
  const exec = useAction();
  const reload = useAction();
  const r = runtime.data;
  return (
    <Page
      title="Lua"
      actions={
        can("POST", "/v2/console/runtime/reload") && (
          <Button
            onClick={() =>
              reload.run(async () => {
                const out = await api.reload();
                setReloaded(`Generation ${out.generation}: ${out.rpcs.length} RPCs.`);
                runtime.reload();
              })
            }
          >
            Reload modules
          </Button>
        )
      }
    >
      <ErrorBox error={runtime.error ?? reload.error} />
      {reloaded && <p role="status" className="text-sm">{reloaded}</p>}
      <Loading loading={runtime.loading} />
      {r && (
        <div className="grid gap-4 md:grid-cols-2">
          <Card title="Modules">
            <Table head={["Module", "File", "Bytes"]} empty="No modules loaded." rows={r.modules.map((m) => [m.name, m.file, String(m.bytes)])} />
            <p className="mt-2 text-xs text-zinc-500">
              Generation {r.generation}; {r.states} states ({r.idle_states} idle)
            </p>
          </Card>
          <Card title="Registered">
            <p className="text-sm font-medium">RPCs</p>
            <p className="mb-2 text-sm">{r.rpcs.join(", ") || "none"}</p>
            <p className="text-sm font-medium">Match handlers</p>
            <p className="mb-2 text-sm">{r.matches.join(", ") || "none"}</p>
            <p className="text-sm font-medium">Hooks</p>
            <p className="text-sm">{r.hooks.map((h) => `${h.side} ${h.operation}`).join(", ") || "none"}</p>
          </Card>
        </div>
      )}
      {can("POST", "/v2/console/runtime/rpc/{id}") && (
        <Card title="Call an RPC">
          <Form error={call.error} onSubmit={() => call.run(async () => setRpcAnswer((await api.callRpc(rpc.id, rpc.payload, rpc.user_id || undefined)).payload))}>
            <Field label="RPC">
              <Select value={rpc.id} onChange={(e) => setRpc({ ...rpc, id: e.target.value })} required>
                <option value="">choose…</option>
                {(r?.rpcs ?? []).map((id) => (
                  <option key={id}>{id}</option>
                ))}
              </Select>
            </Field>
            <Field label="Payload">
              <Input value={rpc.payload} onChange={(e) => setRpc({ ...rpc, payload: e.target.value })} className="w-72" />
            </Field>
            <Field label="As player (id; empty: the server)">
              <Input value={rpc.user_id} onChange={(e) => setRpc({ ...rpc, user_id: e.target.value })} />
            </Field>
            <Button kind="primary" type="submit">Call</Button>
          </Form>
          {rpcAnswer !== null && <Json value={rpcAnswer} />}
        </Card>
      )}
      {can("POST", "/v2/console/runtime/execute") && (
        <Card title="Run a snippet">
          <p className="mb-2 text-xs text-zinc-500">
            Runs in a state of its own with the modules loaded, the same sandbox and limits as any call; nothing it changes outlives it.
          </p>
          <Form error={exec.error} onSubmit={() => exec.run(async () => setRun(await api.execute(code)))}>
            <Field label="Lua">
              <TextArea aria-label="Lua snippet" rows={8} cols={80} value={code} onChange={(e) => setCode(e.target.value)} />
            </Field>
            <Button kind="primary" type="submit" disabled={exec.busy}>Run</Button>
          </Form>
          {run && (
            <>
              <p className="mt-2 text-sm font-medium">Returned</p>
              <Json value={run.result} />
              <p className="mt-2 text-sm font-medium">Printed</p>
              <Json value={run.output} />
            </>
          )}
        </Card>
      )}
    </Page>
  );
}
