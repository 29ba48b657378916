/**
 * The README's example: prints one page of a user's home timeline.
 *
 *   node dist/examples/timeline.js HOST:PORT USER_ID [TOKEN_FILE]
 *
 * (The integration test runs it, so the README's code keeps working.)
 */
import { Client, FeedcacheError, withRetry } from "../src/index";

async function main(): Promise<void> {
  const [addr = "127.0.0.1:7400", user = "42", tokenFile] = process.argv.slice(2);
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];

  const client = await Client.connect(host, port, { timeoutMs: 2000, tokenFile });
  try {
    // Retries OVERLOADED / UNAVAILABLE after the retry_after_ms they carry.
    const page = await withRetry(() => client.timelineGet({ user_id: BigInt(user), limit: 5 }));
    console.log(`source=${page.source} degraded=${page.degraded} next_cursor=${page.next_cursor}`);
    for (const post of page.posts) {
      console.log(`${post.id} by ${post.author_id} at ${new Date(post.created_at).toISOString()}: ${post.body}`);
    }
  } catch (err) {
    if (err instanceof FeedcacheError) {
      console.error(`feedcache said ${err.code}: ${err.message}`);
      process.exitCode = 1;
    } else {
      throw err;
    }
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(String(err));
  process.exitCode = 1;
});
