// The classic .NET named-pipe listener, as a pipehub client: connect, then print every
// broadcast the hub sends, with its sequence number and sender, until the hub stops.
// Usage: Listen.exe [ENDPOINT]   (default: PIPEHUB_ENDPOINT, else the platform default)
using System;
using System.Threading.Tasks;
using Pipehub;

class Listen
{
    static int Main(string[] args)
    {
        return Run(args.Length > 0 ? args[0] : null).GetAwaiter().GetResult();
    }

    static async Task<int> Run(string endpoint)
    {
        try
        {
            using (var hub = await HubClient.ConnectAsync(new HubOptions { Endpoint = endpoint, Name = "Listen.exe" }))
            {
                HubEvent e;
                while ((e = await hub.ReceiveAsync()) != null)
                {
                    if (e is Message m) Console.WriteLine("#" + m.Seq + " " + m.Text);
                    else Console.Error.WriteLine(e); // a loss notice or a direct message
                }
                Console.Error.WriteLine("the hub closed the session: " + hub.Bye);
                return 0;
            }
        }
        catch (HubException err)
        {
            Console.Error.WriteLine(err.Message);
            return 1;
        }
    }
}
