module {{top}} (
{{ports}}
);
{{body}}
endmodule
