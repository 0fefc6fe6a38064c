import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

// Three replicas behind HAProxy (round robin), started by playwright.config.ts with scripts/cluster.sh.
test.use({ baseURL: `http://${process.env.CLUSTER_SITE_ADDR ?? "127.0.0.1:3100"}` });

test("through the load balancer async sends reach OK, looked up on several replicas", async ({ page }) => {
  const servedBy = new Set<string>();
  page.on("response", (response) => {
    const replica = response.headers()["x-served-by"];
    if (replica && response.url().includes("/api/status")) servedBy.add(replica);
  });
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await expect(page.getByTestId("replica")).toContainText("served by");
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    await send.send({ mode: "idempotent", sendMode: "async" });
    const live = send.result.getByTestId("live-status");
    await expect(live.getByTestId("state")).toHaveText("OK");
    ids.push((await live.getByTestId("request-id").textContent()) ?? "");
  }
  // Each lookup is one status request, balanced round robin: until two replicas answered.
  for (let i = 0; i < 10 && servedBy.size < 2; i++) {
    const id = ids[i % 2];
    const answered = page.waitForResponse((r) => r.url().includes("/api/status") && r.url().includes(id));
    await send.lookUp(id);
    expect((await answered).status()).toBe(200);
  }
  expect(servedBy.size).toBeGreaterThanOrEqual(2);
});
