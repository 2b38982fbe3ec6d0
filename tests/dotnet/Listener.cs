// The classic .NET named-pipe listener: connect to the pipe for reading, then print
// every line the server sends until it closes the pipe. Usage: Listener.exe [NAME]
using System;
using System.IO;
using System.IO.Pipes;

class PipeClient
{
    static void Main(string[] args)
    {
        string name = args.Length > 0 ? args[0] : "testpipe";
        using (var pipeClient = new NamedPipeClientStream(".", name, PipeDirection.In))
        {
            // Connect to the pipe, waiting up to 5 seconds for the server.
            pipeClient.Connect(5000);
            using (var sr = new StreamReader(pipeClient))
            {
                string temp;
                while ((temp = sr.ReadLine()) != null)
                {
                    Console.WriteLine(temp);
                }
            }
        }
    }
}
