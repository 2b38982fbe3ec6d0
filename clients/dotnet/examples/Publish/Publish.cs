// Publishes each line of stdin as one message, and exits 0 once the hub has taken them all.
// Usage: some-command | Publish.exe [ENDPOINT]
using System;
using System.Threading.Tasks;
using Pipehub;

class Publish
{
    static int Main(string[] args)
    {
        return Run(args.Length > 0 ? args[0] : null).GetAwaiter().GetResult();
    }

    static async Task<int> Run(string endpoint)
    {
        try
        {
            using (var hub = await HubClient.ConnectAsync(new HubOptions { Endpoint = endpoint, Role = HubRole.Publisher, Name = "Publish.exe" }))
            {
                string line;
                while ((line = Console.ReadLine()) != null)
                    await hub.SendAsync(line); // returns once the hub has taken it
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
