import { defineConfig } from "@playwright/test";

// cargo-leptos starts the server (release build, embedded Tansu) before running these tests.
const addr = process.env.LEPTOS_SITE_ADDR ?? "127.0.0.1:3000";
// A second instance of the same release build, with API_TOKEN set, for the access-control specs.
const tokenAddr = process.env.TOKEN_SITE_ADDR ?? "127.0.0.1:3019";
// Three replicas of it behind HAProxy (scripts/cluster.sh), for the shared-statuses spec.
const clusterAddr = process.env.CLUSTER_SITE_ADDR ?? "127.0.0.1:3100";

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"]],
  use: {
    baseURL: `http://${addr}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium" }],
  webServer: [
    {
      command: "../target/release/producer-reliability",
      url: `http://${tokenAddr}/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      env: {
        LEPTOS_SITE_ADDR: tokenAddr,
        LEPTOS_SITE_ROOT: "../target/site",
        LEPTOS_OUTPUT_NAME: "producer-reliability",
        API_TOKEN: "e2e-secret-token",
        KAFKA_BOOTSTRAP_SERVERS: "",
        RUST_LOG: "warn",
      },
    },
    {
      command: "../scripts/cluster.sh",
      url: `http://${clusterAddr}/health/ready`,
      reuseExistingServer: false,
      timeout: 90_000,
      env: {
        PORT: clusterAddr.split(":")[1],
        REPLICA_PORTS: "3101 3102 3103",
        BROKER_PORT: "19092",
        KAFKA_BOOTSTRAP_SERVERS: "",
        LEPTOS_OUTPUT_NAME: "producer-reliability",
      },
    },
  ],
});
