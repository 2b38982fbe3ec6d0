// The C# client as the end-to-end tests drive it (tests/tests/dotnet_client.rs): a small
// program that does one thing with the library and prints what it got, one line at a time,
// so that the test, not this program, decides whether it was right. The Python client
// has the same program (clients/python/tests/scenarios.py), with the same commands and
// output.
//
//   listen  ENDPOINT [--listeners N] [--count C] [--until BODY] [--reconnect] [--out DIR]
//       N listeners in this process; prints "ready ID..." once all are connected, then each
//       event as "K message SEQ SENDER BODY", "K lagged MISSED NEXT_SEQ", "K direct SENDER
//       BODY" or "K restarted" (to DIR/K.txt with --out), and "K done RECEIVED END" where
//       END is "count", "until", "bye REASON TEXT" or "error TYPE MESSAGE".
//   publish ENDPOINT [--each K]
//       sends the lines of stdin (the first K one SendAsync each, the rest in one
//       SendManyAsync); prints "welcome ID", then "confirmed N" and "status BROADCASTS
//       REQUESTED_BY" from StatusAsync.
//   connect ENDPOINT [--role listener|publisher]
//       prints "welcome ID", or "error TYPE MESSAGE" and exits 4 (refused), 3 (no hub), 1.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;

namespace Pipehub.Tests
{
    static class Scenarios
    {
        static readonly object Out = new object();

        static void Say(string line)
        {
            lock (Out) { Console.Out.WriteLine(line); Console.Out.Flush(); }
        }

        static string Arg(string[] args, string name, string otherwise)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : otherwise;
        }

        static int Main(string[] args)
        {
            try
            {
                switch (args[0])
                {
                    case "listen": return Listen(args).Result;
                    case "publish": return Publish(args).Result;
                    case "connect": return Connect(args).Result;
                }
                Console.Error.WriteLine("unknown command " + args[0]);
                return 2;
            }
            catch (AggregateException err)
            {
                var inner = err.InnerException;
                Say("error " + inner.GetType().Name + " " + inner.Message);
                return inner is HubRefusedException ? 4 : inner is NoHubException ? 3 : 1;
            }
        }

        static async Task<int> Listen(string[] args)
        {
            var endpoint = args[1];
            int listeners = int.Parse(Arg(args, "--listeners", "1"));
            long count = long.Parse(Arg(args, "--count", "0"));
            var until = Arg(args, "--until", null);
            var dir = Arg(args, "--out", null);
            bool reconnect = args.Contains("--reconnect");
            var clients = new List<HubClient>();
            for (int k = 0; k < listeners; k++)
                clients.Add(await HubClient.ConnectAsync(new HubOptions { Endpoint = endpoint, Name = "listener " + k, Reconnect = reconnect }));
            Say("ready " + string.Join(" ", clients.Select(c => c.ClientId)));
            var runs = clients.Select((client, k) => Task.Run(() => Receive(client, k, count, until, dir))).ToArray();
            await Task.WhenAll(runs);
            foreach (var client in clients) await client.DisposeAsync();
            return 0;
        }

        static async Task Receive(HubClient client, int k, long count, string until, string dir)
        {
            TextWriter sink = dir == null ? null : new StreamWriter(Path.Combine(dir, k + ".txt"), false, new UTF8Encoding(false));
            Action<string> record = line => { if (sink != null) sink.WriteLine(line); else Say(k + " " + line); };
            long received = 0;
            string end;
            try
            {
                while (true)
                {
                    var e = await client.ReceiveAsync();
                    if (e == null) { end = "bye " + client.Bye.Code + " " + client.Bye.Text; break; }
                    if (e is Message m)
                    {
                        record("message " + m.Seq + " " + m.Sender + " " + m.Text);
                        received++;
                        if (until != null && m.Text == until) { end = "until"; break; }
                        if (count > 0 && received == count) { end = "count"; break; }
                    }
                    else if (e is Lagged l) record("lagged " + l.Missed + " " + l.NextSeq);
                    else if (e is DirectMessage d) record("direct " + d.Sender + " " + d.Text);
                    else if (e is HubRestarted) record("restarted");
                }
            }
            catch (HubException err)
            {
                end = "error " + err.GetType().Name + " " + err.Message;
            }
            if (sink != null) sink.Dispose();
            Say(k + " done " + received + " " + end);
        }

        static async Task<int> Publish(string[] args)
        {
            int each = int.Parse(Arg(args, "--each", "0"));
            var lines = new List<string>();
            string line;
            while ((line = Console.In.ReadLine()) != null) lines.Add(line);
            using (var hub = await HubClient.ConnectAsync(new HubOptions { Endpoint = args[1], Role = HubRole.Publisher, Name = "publisher" }))
            {
                Say("welcome " + hub.ClientId);
                foreach (var text in lines.Take(each)) await hub.SendAsync(text);
                int sent = each + await hub.SendManyAsync(lines.Skip(each));
                Say("confirmed " + sent);
                var status = await hub.StatusAsync();
                Say("status " + status.Broadcasts + " " + status.RequestedBy);
            }
            return 0;
        }

        static async Task<int> Connect(string[] args)
        {
            var role = Arg(args, "--role", "listener") == "publisher" ? HubRole.Publisher : HubRole.Listener;
            using (var hub = await HubClient.ConnectAsync(new HubOptions { Endpoint = args[1], Role = role }))
                Say("welcome " + hub.ClientId);
            return 0;
        }
    }
}
